"""Data layer: variable types, predictor features, block coding, file I/O."""
