# mmdeploy's onnx_config.py and backends/onnxruntime.py in one file: opset
# 11, one input, onnxruntime. The children set the outputs, the one input
# size (the SVGA graph fixes the feature-map sizes) and the codebase.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
backend_config = dict(type='onnxruntime')
