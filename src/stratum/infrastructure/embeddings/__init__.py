"""Embedding adapters: all-MiniLM-L6-v2 offline (ONNX Runtime or PyTorch) and a hash cache."""
