# mmdeploy config: Mask R-CNN to onnxruntime at one input size, 800x1344 (a
# 1333x800 COCO image padded to a multiple of 32): mmdeploy's
# instance-seg_onnxruntime_static.py with the shape fixed. Used by
# tools/deploy/mmdeploy_onnxruntime.py (--shape overrides the size).
_base_ = './_base_/onnxruntime_static.py'

onnx_config = dict(
    output_names=['dets', 'labels', 'masks'],
    input_shape=[1344, 800])  # width, height
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1,
        export_postprocess_mask=False))
