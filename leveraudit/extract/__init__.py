"""Static facts from source files with libcst: discovery, parsing, patterns, CLI surfaces."""
