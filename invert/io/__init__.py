"""Images in and out, atomic result files, run folders and their manifest, devices.

The package's modules, lowest first: :mod:`~invert.io.files` (atomic files and folders, the list of files a
run wrote), :mod:`~invert.io.folders` (run folders: lock, ``--overwrite``), :mod:`~invert.io.manifest`
(``config.json``), :mod:`~invert.io.images` and :mod:`~invert.io.device`. Every public name is importable
from ``invert.io``; none of them imports torch when the package is imported (``invert --help`` stays light).
"""

from __future__ import annotations

from invert.io.device import resolve_device, resolve_dtype, shared_dir
from invert.io.files import (
    atomic_path,
    make_folder,
    save_figure,
    watch,
    write_csv,
    write_json,
    write_text,
    written,
)
from invert.io.folders import (
    LOCK_NAME,
    RESULT_MARKERS,
    RESULT_SUFFIXES,
    check_out_dir,
    claim_folder,
    clear_results,
    folder_contents,
    listed_files,
    lock_folder,
    prepare_out_dir,
    release_folder,
)
from invert.io.images import (
    DEFAULT_IMAGE_NAME,
    DEFAULT_MAX_PIXELS,
    MIN_IMAGE_SIDE,
    check_image_file,
    default_image_path,
    image_header_size,
    load_image,
    max_pixels_limit,
    resize_image,
    save_image,
    to_uint8,
    torchvision_codecs,
)
from invert.io.manifest import environment_info, set_command_line, write_config
from invert.ranks import secondary_rank

__all__ = [
    "DEFAULT_IMAGE_NAME",
    "DEFAULT_MAX_PIXELS",
    "LOCK_NAME",
    "MIN_IMAGE_SIDE",
    "RESULT_MARKERS",
    "RESULT_SUFFIXES",
    "atomic_path",
    "check_image_file",
    "check_out_dir",
    "claim_folder",
    "clear_results",
    "default_image_path",
    "environment_info",
    "folder_contents",
    "image_header_size",
    "listed_files",
    "load_image",
    "lock_folder",
    "make_folder",
    "max_pixels_limit",
    "prepare_out_dir",
    "release_folder",
    "resize_image",
    "resolve_device",
    "resolve_dtype",
    "save_figure",
    "save_image",
    "secondary_rank",
    "set_command_line",
    "shared_dir",
    "to_uint8",
    "torchvision_codecs",
    "watch",
    "write_config",
    "write_csv",
    "write_json",
    "write_text",
    "written",
]
