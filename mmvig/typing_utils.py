"""Type aliases of mmvig's signatures (as ``mmdet.utils.typing_utils``)."""
from typing import Any, Dict, Union

from mmengine.config import ConfigDict

ConfigType = Union[Dict[str, Any], ConfigDict]
