"""scripts/pack's packer: charmcraft's layout for each platform, from charmcraft.yaml.

What each file follows in charmcraft 4.5 (checked by scripts/check-charmcraft):
- the parts: the rust part's `bin/github-runner` organized to `dispatch` (0755), the dump
  part's templates under templates/ (their modes kept);
- metadata.yaml: `CharmMetadata.from_charm` (title -> display-name, links.documentation ->
  docs, links.contact -> maintainers), dumped with yaml.safe_dump(sort_keys=True) and
  multi-line strings as `|` blocks (charmcraft's representer);
- config.yaml and actions.yaml: the project's files as they are (`_get_mediated_yaml`);
- manifest.yaml: charmcraft-version, charmcraft-started-at, bases (one, from the platform),
  analysis.attributes (language and framework as charmcraft's linters find them here);
- the zip: every file (symlinks followed), deflated.

usage: pack.py BINARY OUT_DIR (SOURCE_DATE_EPOCH set: the zip's times and the manifest's)
"""

import datetime
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import zipfile

import yaml

# The newest glibc symbol version each base's libc provides (Ubuntu 22.04: 2.35, 24.04: 2.39).
GLIBC = {"22.04": (2, 35), "24.04": (2, 39)}
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}
# What charmcraft's linters say of a charm whose dispatch is a binary (no ops, no Python).
ATTRIBUTES = [{"name": "language", "result": "unknown"}, {"name": "framework", "result": "unknown"}]


def fail(message):
    sys.exit(f"scripts/pack: {message}")


def platforms(project):
    """(label, base name, channel, arch) of every platform, from the `<base>@<channel>:<arch>`
    shorthand, the only form this packer reads."""
    found = []
    for label, value in (project.get("platforms") or {}).items():
        match = re.fullmatch(r"([a-z]+)@([0-9.]+):([a-z0-9]+)", label)
        if value is not None or not match:
            fail(f"charmcraft.yaml platform {label!r}: only the `ubuntu@22.04:amd64` form is packed here")
        found.append((label, *match.groups()))
    if not found:
        fail("charmcraft.yaml has no `platforms`")
    return found


def metadata(project):
    """metadata.yaml's mapping, as charmcraft's CharmMetadata.from_charm makes it."""
    keys = ["name", "summary", "description", "assumes", "provides", "requires", "peers",
            "subordinate", "extra-bindings", "resources", "storage", "terms", "containers", "devices"]
    meta = {key: project[key] for key in keys if project.get(key) is not None}
    if project.get("title") is not None:
        meta["display-name"] = project["title"]
    links = dict(project.get("links") or {})
    if "documentation" in links:
        meta["docs"] = links.pop("documentation")
    if "contact" in links:
        contact = links.pop("contact")
        meta["maintainers"] = [contact] if isinstance(contact, str) else contact
    meta.update(links)
    return meta


def glibc_needed(binary):
    """The newest GLIBC_x.y the binary asks for; None without objdump."""
    try:
        symbols = subprocess.run(["objdump", "-T", binary], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"scripts/pack: glibc not checked (objdump -T: {e}; binutils has it)", file=sys.stderr)
        return None
    versions = [tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([0-9]+\.[0-9]+)", symbols)]
    return max(versions, default=None)


def manifest(name, channel, arch, started_at):
    """manifest.yaml as charmcraft's PackageService renders it (keys in its model's order)."""
    data = {
        "charmcraft-version": "scripts/pack",
        "charmcraft-started-at": started_at,
        "bases": [{"name": name, "channel": channel, "architectures": [arch]}],
        "analysis": {"attributes": ATTRIBUTES},
    }
    return yaml.safe_dump(data, sort_keys=False)


def literal_multiline(dumper, data):
    """Multi-line strings as `|` blocks, as charmcraft's dump_yaml registers on SafeDumper
    before it writes metadata.yaml."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def zip_dir(src, dest, date_time):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                info = zipfile.ZipInfo(os.path.relpath(path, src), date_time=date_time)
                info.create_system = 3  # Unix: the modes below are honoured
                info.external_attr = (stat.S_IFREG | stat.S_IMODE(os.stat(path).st_mode)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    z.writestr(info, f.read())


def main(binary, out):
    with open("charmcraft.yaml") as f:
        project = yaml.safe_load(f)
    arch = ARCH.get(platform.machine(), platform.machine())
    mine = [p for p in platforms(project) if p[3] == arch]
    if not mine:
        fail(f"charmcraft.yaml has no platform for {arch}, the architecture of this machine")
    needed = glibc_needed(binary)
    for label, _, channel, _ in mine:
        if needed and channel in GLIBC and needed > GLIBC[channel]:
            fail(f"{binary} needs glibc {needed[0]}.{needed[1]}, newer than Ubuntu {channel}'s: "
                 f"build it on an older system (Ubuntu {channel} itself, or charmcraft pack)")

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    moment = datetime.datetime.fromtimestamp(max(epoch, 315532800), datetime.timezone.utc)
    started_at = moment.replace(tzinfo=None).isoformat()
    yaml.add_representer(str, literal_multiline, Dumper=yaml.SafeDumper)
    meta = yaml.safe_dump(metadata(project), sort_keys=True)
    os.makedirs(out, exist_ok=True)
    first = None
    for label, base, channel, arch in mine:
        stem = f"{project['name']}_{label.replace(':', '-')}"
        charm = os.path.join(out, stem)
        shutil.rmtree(charm, ignore_errors=True)
        os.makedirs(charm)
        shutil.copyfile(binary, os.path.join(charm, "dispatch"))
        os.chmod(os.path.join(charm, "dispatch"), 0o755)
        shutil.copytree("templates", os.path.join(charm, "templates"))
        write(os.path.join(charm, "metadata.yaml"), meta)
        for name in ("config.yaml", "actions.yaml"):
            shutil.copyfile(name, os.path.join(charm, name))
            os.chmod(os.path.join(charm, name), 0o644)
        write(os.path.join(charm, "manifest.yaml"), manifest(base, channel, arch, started_at))
        zipfile_path = os.path.join(out, stem + ".charm")
        zip_dir(charm, zipfile_path, moment.timetuple()[:6])
        first = first or stem
        print(charm)
        print(zipfile_path)
    link = os.path.join(out, "charm")
    if os.path.islink(link) or os.path.exists(link):
        shutil.rmtree(link) if not os.path.islink(link) else os.remove(link)
    os.symlink(first, link)


if __name__ == "__main__":
    main(*sys.argv[1:])
