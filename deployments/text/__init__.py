"""The text analyzer: obfuscation-aware normalisation, training data, and the text ensemble."""
