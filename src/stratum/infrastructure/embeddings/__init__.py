"""Embedding adapters: all-MiniLM-L6-v2 offline (ONNX Runtime or PyTorch), an OpenAI-compatible
endpoint, and a hash cache."""
