#include "passes/Dataflow.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/pending/queue.hpp>

#include <functional>
#include <map>
#include <queue>

namespace v4c {

using mlir::Operation;

BlockDataflow::BlockDataflow(mlir::Block &block) {
  for (Operation &op : block.without_terminator()) {
    vertexOf_[&op] = ops_.size();
    ops_.push_back(&op);
  }
  graph_ = Graph(ops_.size());
  Operation *lastEffect = nullptr;
  for (Operation *op : ops_) {
    size_t to = vertexOf_.lookup(op);
    llvm::SmallDenseSet<size_t, 4> from;
    for (mlir::Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp(); def && vertexOf_.count(def))
        from.insert(vertexOf_.lookup(def));
    if (!mlir::isMemoryEffectFree(op)) {
      if (lastEffect)
        from.insert(vertexOf_.lookup(lastEffect));
      lastEffect = op;
    }
    for (size_t f : from)
      boost::add_edge(f, to, graph_);
  }
}

Operation *BlockDataflow::escapingPath(llvm::ArrayRef<Operation *> members) const {
  std::vector<bool> inside(ops_.size(), false);
  for (Operation *op : members)
    inside[vertexOf_.lookup(op)] = true;
  // Breadth-first from the members' successors outside, never entering the members; a vertex
  // reached that feeds a member is the path's way back.
  auto outside = [&](size_t v) { return !inside[v]; };
  boost::filtered_graph<Graph, boost::keep_all, std::function<bool(size_t)>> rest(
      graph_, boost::keep_all(), outside);
  std::vector<size_t> sources;
  for (size_t v = 0; v < ops_.size(); ++v)
    if (inside[v])
      for (auto [e, end] = boost::out_edges(v, graph_); e != end; ++e)
        if (!inside[boost::target(*e, graph_)])
          sources.push_back(boost::target(*e, graph_));
  if (sources.empty())
    return nullptr;
  std::vector<boost::default_color_type> colors(ops_.size(), boost::white_color);
  auto colorMap = boost::make_iterator_property_map(
      colors.begin(), boost::get(boost::vertex_index, graph_));
  boost::queue<size_t> queue;
  boost::breadth_first_search(rest, sources.begin(), sources.end(), queue,
                              boost::default_bfs_visitor(), colorMap);
  for (size_t v = 0; v < ops_.size(); ++v) {
    if (inside[v] || colors[v] == boost::white_color)
      continue;
    for (auto [e, end] = boost::out_edges(v, graph_); e != end; ++e)
      if (inside[boost::target(*e, graph_)])
        return ops_[v];
  }
  return nullptr;
}

mlir::FailureOr<std::vector<Operation *>>
BlockDataflow::groupedOrder(llvm::function_ref<int64_t(Operation *)> groupOf) const {
  // The quotient graph: a node per group, and one per op outside any group.
  std::map<int64_t, size_t> nodeOfGroup;
  std::vector<size_t> nodeOf(ops_.size());
  std::vector<std::vector<size_t>> members;
  for (size_t v = 0; v < ops_.size(); ++v) {
    int64_t group = groupOf(ops_[v]);
    if (group >= 0 && nodeOfGroup.count(group)) {
      nodeOf[v] = nodeOfGroup[group];
    } else {
      nodeOf[v] = members.size();
      members.emplace_back();
      if (group >= 0)
        nodeOfGroup[group] = nodeOf[v];
    }
    members[nodeOf[v]].push_back(v);
  }
  Graph quotient(members.size());
  std::vector<size_t> inDegree(members.size(), 0);
  for (auto [e, end] = boost::edges(graph_); e != end; ++e) {
    size_t from = nodeOf[boost::source(*e, graph_)], to = nodeOf[boost::target(*e, graph_)];
    if (from != to) {
      boost::add_edge(from, to, quotient);
      ++inDegree[to];
    }
  }
  // Kahn's algorithm, always taking the ready node whose first op comes first.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t n = 0; n < members.size(); ++n)
    if (inDegree[n] == 0)
      ready.push(n); // nodes are numbered by their first op
  std::vector<Operation *> order;
  while (!ready.empty()) {
    size_t n = ready.top();
    ready.pop();
    for (size_t v : members[n])
      order.push_back(ops_[v]);
    for (auto [e, end] = boost::out_edges(n, quotient); e != end; ++e)
      if (--inDegree[boost::target(*e, quotient)] == 0)
        ready.push(boost::target(*e, quotient));
  }
  if (order.size() != ops_.size())
    return mlir::failure(); // a cycle among the groups
  return order;
}

} // namespace v4c
