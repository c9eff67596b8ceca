"""What leaves the library: the decoder as ONNX (and a layer list for the browser), tensors as images."""
