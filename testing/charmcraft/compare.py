"""How one .charm of scripts/pack compares with the one charmcraft's services packed: paths,
modes, bytes (metadata, config and actions parsed), the manifest's keys, bases and analysis.
Used by check.py."""

import datetime
import os
import pathlib
import stat
import zipfile

import yaml

# What charmcraft itself adds to the prime directory (PackageService's package files).
PACKAGE_FILES = ("metadata.yaml", "config.yaml", "actions.yaml", "manifest.yaml")
PARSED_FILES = ("metadata.yaml", "config.yaml", "actions.yaml")


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        return infos, {i.filename: z.read(i) for i in infos}


def walk_files(root):
    """Relative path -> stat of every file under root, as charmcraft's build_zip sees them
    (os.walk following links: directories are not entries)."""
    found = {}
    for dirpath, _, filenames in os.walk(root, followlinks=True):
        for name in filenames:
            path = pathlib.Path(dirpath, name)
            found[path.relative_to(root).as_posix()] = path
    return found


def keys_diff(a, b, where=""):
    """Paths of keys that one mapping has and the other not, at every level."""
    problems = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            here = f"{where}.{key}" if where else str(key)
            if key not in a:
                problems.append(f"key {here} missing (charmcraft has it)")
            elif key not in b:
                problems.append(f"key {here} is extra (charmcraft has not)")
            else:
                problems.extend(keys_diff(a[key], b[key], here))
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{where}: {len(a)} items, charmcraft has {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            problems.extend(keys_diff(x, y, f"{where}[{i}]"))
    elif isinstance(a, (dict, list)) != isinstance(b, (dict, list)):
        problems.append(f"{where}: {type(a).__name__}, charmcraft has {type(b).__name__}")
    return problems


def first_difference(a, b):
    """A readable unified diff of two YAML documents' canonical dumps (first lines)."""
    import difflib

    dump = lambda d: yaml.safe_dump(d, sort_keys=True).splitlines()  # noqa: E731
    diff = list(difflib.unified_diff(dump(b), dump(a), "charmcraft", "scripts/pack", lineterm="", n=1))
    return " / ".join(diff[2:14])


def compare_charm(report, label, packed, reference, prime, binary):
    """scripts/pack's .charm `packed` against charmcraft's `reference` .charm of its `prime`."""
    infos, data = zip_entries(packed)
    ref_infos, ref_data = zip_entries(reference)
    primed = walk_files(prime)
    names = [i.filename for i in infos]

    problems = []
    if sorted(set(ref_data)) != sorted(primed):
        problems.append("charmcraft's own zip does not hold its prime directory (internal)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate entries {dupes}")
    extra = sorted(set(names) - set(primed))
    missing = sorted(set(primed) - set(names))
    if extra:
        problems.append(f"not in charmcraft's prime: {extra}")
    if missing:
        problems.append(f"missing (charmcraft primes them): {missing}")
    report.check(label, f"paths ({len(primed)} files)", problems)

    problems = []
    for info in infos:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(f"{info.filename} is a symlink")
        if info.is_dir():
            problems.append(f"{info.filename} is a directory entry (charmcraft zips none)")
    hooks = sorted(n for n in names if n == "hooks" or n.startswith("hooks/"))
    if hooks:
        problems.append(f"has hooks/: {hooks}")
    report.check(label, "no symlinks, dirs or hooks/", problems)

    problems = []
    modes = {}
    for info in infos:
        mode = info.external_attr >> 16
        modes.setdefault(stat.filemode(mode), []).append(info.filename)
        if info.filename not in primed:
            continue
        want = os.stat(primed[info.filename]).st_mode
        if mode != want:
            problems.append(f"{info.filename} is {oct(mode)} ({stat.filemode(mode)}), "
                            f"charmcraft primes {oct(want)} ({stat.filemode(want)})")
        if info.compress_type != zipfile.ZIP_DEFLATED:
            problems.append(f"{info.filename} is not deflated")
    shown = ", ".join(f"{names[0] if len(names) == 1 else len(names)} {mode}"
                      for mode, names in sorted(modes.items(), key=lambda m: len(m[1])))
    report.check(label, f"modes ({shown})", problems)

    with open(binary, "rb") as f:
        binary_bytes = f.read()
    problems = []
    if data.get("dispatch") != binary_bytes:
        problems.append("dispatch is not the binary's bytes")
    if ref_data.get("dispatch") != binary_bytes:
        problems.append("charmcraft's dispatch is not the binary's bytes")
    report.check(label, "dispatch == binary (bytes)", problems)

    problems = []
    others = sorted(set(data) & set(ref_data) - set(PACKAGE_FILES) - {"dispatch"})
    for name in others:
        if data[name] != ref_data[name]:
            problems.append(f"{name} differs")
    report.check(label, f"other files' bytes ({len(others)})", problems)

    for name in PARSED_FILES:
        problems = []
        if name not in data or name not in ref_data:
            problems.append("absent" if name in ref_data else "charmcraft has none")
        else:
            mine, theirs = yaml.safe_load(data[name]), yaml.safe_load(ref_data[name])
            if mine != theirs:
                problems.append(f"parsed content differs: {first_difference(mine, theirs)}")
            elif data[name] != ref_data[name]:
                report.note(f"{label}: {name} parses equal to charmcraft's but its bytes differ")
        report.check(label, f"{name} parsed-equal", problems)

    problems = []
    if "manifest.yaml" not in data:
        problems.append("absent")
    else:
        mine, theirs = yaml.safe_load(data["manifest.yaml"]), yaml.safe_load(ref_data["manifest.yaml"])
        problems.extend(keys_diff(mine, theirs))
        for key in ("bases", "analysis"):
            if isinstance(mine, dict) and mine.get(key) != theirs.get(key):
                problems.append(f"{key} is {mine.get(key)!r}, charmcraft's {theirs.get(key)!r}")
        started = mine.get("charmcraft-started-at") if isinstance(mine, dict) else None
        try:
            datetime.datetime.fromisoformat(str(started))
        except ValueError:
            problems.append(f"charmcraft-started-at {started!r} is not an ISO 8601 time")
    report.check(label, "manifest.yaml keys, bases, analysis", problems)

    # scripts/pack's charm directory (what `fake-juju deploy` takes) is its zip unpacked.
    directory = packed.with_suffix("")
    problems = []
    if directory.is_dir():
        files = walk_files(directory)
        if sorted(files) != sorted(data):
            problems.append(f"files {sorted(set(files) ^ set(data))} are in one only")
        for name in sorted(set(files) & set(data)):
            st = os.stat(files[name])
            info = next(i for i in infos if i.filename == name)
            if st.st_mode != info.external_attr >> 16:
                problems.append(f"{name}: mode {oct(st.st_mode)}, the zip's {oct(info.external_attr >> 16)}")
            if files[name].read_bytes() != data[name]:
                problems.append(f"{name}: bytes differ from the zip's")
        report.check(label, "unpacked dir == the .charm", problems)
