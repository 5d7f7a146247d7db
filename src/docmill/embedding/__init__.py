"""Embedding models: the encoder the embed stage drives (`encoder`: sentence-transformers, ONNX, OpenVINO
backends), the ONNX export and int8 quantisation (`onnx`) and the local model folders (`model_folder`)."""
