# What every mmvig config adds to its library's default runtime (each lists
# this file after the library's default_runtime.py). mmengine refuses a key
# that two bases both set, so the configs also state one line beside it:
#   default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# AtomicCheckpointHook saves under a temporary name and renames before an
# old checkpoint is deleted: a crash mid-save keeps the last one.
custom_imports = dict(imports=['mmvig'], allow_failed_imports=False)
# Every checkpoint (load_from, --resume, Pretrained; local or URL) is read by
# mmvig's safe loader, also under the task libraries' own tools.
runner_type = 'MMVigRunner'
# Stop at the first non-finite loss, before a checkpoint of NaN weights.
custom_hooks = [dict(type='DivergenceHook')]
