"""The charmcraft check's own self-test: broken copies of a .charm scripts/pack made must each
be caught by the comparison that guards against that break. Used by check.py once the real
comparison passed."""

import stat
import zipfile

import yaml

from compare import compare_charm


def rewrite(src, dest, change):
    """Copies the zip `src` to `dest`, passing each (ZipInfo, bytes) through `change`, which
    returns a list of entries to write instead (none: the entry is dropped)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            for new_info, data in change(info, zin.read(info)):
                zout.writestr(new_info, data)


def breaks():
    """(what is broken, the comparison that must catch it, the change)."""

    def dispatch_not_executable(info, data):
        if info.filename == "dispatch":
            info.external_attr = (stat.S_IFREG | 0o644) << 16
        return [(info, data)]

    def adding(after, name, mode, content):
        """A change that writes one more entry, `name`, after the entry `after`."""

        def change(info, data):
            entries = [(info, data)]
            if info.filename == after:
                extra = zipfile.ZipInfo(name, date_time=info.date_time)
                extra.external_attr = mode << 16
                entries.append((extra, content))
            return entries

        return change

    def manifest_without_analysis(info, data):
        if info.filename == "manifest.yaml":
            manifest = yaml.safe_load(data)
            manifest.pop("analysis")
            data = yaml.safe_dump(manifest, sort_keys=False).encode()
        return [(info, data)]

    def metadata_without_title(info, data):
        if info.filename == "metadata.yaml":
            metadata = yaml.safe_load(data)
            metadata.pop("display-name")
            data = yaml.safe_dump(metadata, sort_keys=True).encode()
        return [(info, data)]

    return [
        ("dispatch 0644", "modes", dispatch_not_executable),
        ("a file charmcraft does not prime", "paths",
         adding("metadata.yaml", "extra.txt", stat.S_IFREG | 0o644, b"not charmcraft's\n")),
        ("hooks/install as a symlink", "no symlinks, dirs or hooks/",
         adding("dispatch", "hooks/install", stat.S_IFLNK | 0o777, b"../dispatch")),
        ("a manifest without analysis", "manifest.yaml keys, bases, analysis", manifest_without_analysis),
        ("metadata without display-name", "metadata.yaml parsed-equal", metadata_without_title),
    ]


def run(report_class, packed, reference, prime, binary, work):
    """Each break of `packed`, compared as the real one was; the lines to print, and the
    breaks no comparison of the expected kind caught."""
    lines, missed = [], []
    work.mkdir(parents=True, exist_ok=True)
    for i, (what, expected, change) in enumerate(breaks()):
        broken = work / f"broken-{i}.charm"
        rewrite(packed, broken, change)
        report = report_class()
        compare_charm(report, "broken", broken, reference, prime, binary)
        caught = sorted({failure.split(": ")[1].split(" (")[0] for failure in report.failures})
        lines.append(f"  broken: {what:<34} caught by {', '.join(caught) or 'NOTHING'}")
        if not any(c.startswith(expected.split(" (")[0]) for c in caught):
            missed.append(what)
    return lines, missed
