"""mmvig's command-line tools, run as scripts (``python tools/train.py``).

A package so that the tests import the tools' shared code as
``tools.tool_utils``.
"""
