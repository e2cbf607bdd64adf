# mmdeploy config: a segmentor to onnxruntime at 512x512 (ADE20K's crop),
# the argmax in the graph: mmdeploy's
# segmentation_onnxruntime_static-512x512.py. Used by
# tools/deploy/mmdeploy_onnxruntime.py (--shape overrides the size).
_base_ = './_base_/onnxruntime_static.py'

onnx_config = dict(input_shape=[512, 512])  # width, height
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
