"""Process definitions: reading BPMN + forms from disk (``bundle``), validating them including a dry-run
instantiation (``validation``), deploying them as immutable numbered versions and loading a version's
parsed specs (``versions``, face below), and the modeler's edit-check-publish cycle (``editing``).
"""

from engine.repository import bundle, editing, validation
from engine.repository.versions import (
           DeployResult,
           LoadedVersion,
           deploy,
           deployed_process_ids,
           file_content,
           get_version,
           latest_version,
           list_versions,
           load,
           parse,
           session_version,
           version_count,
)

__all__ = ["DeployResult", "LoadedVersion", "bundle", "deploy", "deployed_process_ids", "editing",
           "file_content", "get_version", "latest_version", "list_versions", "load", "parse", "session_version",
           "validation", "version_count"]
