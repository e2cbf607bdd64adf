"""Small helpers shared across mmvig."""
from typing import Any, Dict, Union

from mmengine.config import ConfigDict

ConfigType = Union[Dict[str, Any], ConfigDict]
