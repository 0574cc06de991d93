# lit configuration for v4c: IR shape tests (FileCheck) and command-line tests of the tools.
import os
import sys
import lit.formats
from lit.llvm import llvm_config

config.name = "v4c"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.v4c_obj_root, "tests", "lit")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]

config.substitutions.append(("%data", os.path.join(config.v4c_src_root, "tests", "data")))
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.v4c_tools_dir, append_path=True)
llvm_config.use_default_substitutions()
llvm_config.add_tool_substitutions(["v4c", "v4c-opt", "v4c-run", "v4c-capi-test"],
                                   [config.v4c_tools_dir])
config.substitutions.append(("%python", sys.executable))
