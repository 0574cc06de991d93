// An FP8 linear without its block scale (used by tools/bad-input.test).
graph.param @w : tensor<128x256xf8E4M3FN>
func.func @f(%x: tensor<?x256xf32>) -> tensor<?x128xf32> {
  %w = graph.weight @w : tensor<128x256xf8E4M3FN>
  %y = graph.linear %x, %w : tensor<?x256xf32>, tensor<128x256xf8E4M3FN> -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}
