"""Process definitions: reading BPMN + forms from disk (``bundle``), validating them including a dry-run
instantiation (``validation``), deploying them as immutable numbered versions and loading a version's
parsed specs (``versions``, face below), the modeler's edit-check-publish-revert cycle (``editing``), what
changed between two versions (``diff``), and who may start a process with what (``starting``).
"""

from engine.repository import bundle, diff, editing, starting, validation
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
           properties_by_process,
           session_version,
           version_count,
)

__all__ = ["DeployResult", "LoadedVersion", "bundle", "deploy", "diff", "deployed_process_ids", "editing",
           "file_content", "get_version", "latest_version", "list_versions", "load", "parse", "properties_by_process", "session_version", "starting",
           "validation", "version_count"]
