"""Checks the charms scripts/pack made against what charmcraft itself would pack.

Run by scripts/check-charmcraft with the python of a venv holding charmcraft (requirements.txt).
charmcraft cannot pack on a host whose system is not the build base (Debian here), so this
drives charmcraft's own services as `charmcraft pack` does, for each platform of the project
that builds on this machine's architecture:

  project    charmcraft's ProjectService loads charmcraft.yaml (+ config.yaml, actions.yaml),
             extensions and all, as `charmcraft expand-extensions` shows it;
  lifecycle  charmcraft's LifecycleService runs craft-parts up to prime in a temporary work
             directory, with two changes only: the host is not checked against the build base,
             and the rust part's plugin build is replaced by installing the prebuilt binary as
             `$CRAFT_PART_INSTALL/bin/<name>` (what `cargo install --root` leaves there); the
             part's override-pull, organize and prime run as written;
  package    charmcraft's PackageService then writes metadata.yaml, config.yaml, actions.yaml
             and manifest.yaml (its AnalysisService linting the prime directory) and zips the
             prime directory (charmcraft.utils.build_zip), as `charmcraft pack` does after prime.

Each .charm from scripts/pack is compared with that: paths, modes, contents (metadata,
config and actions parsed; the manifest's keys, bases and analysis), and `charmcraft analyse`
must find no lint that is not ok or not applicable.

usage: check.py --project DIR --binary PATH --work DIR CHARM...
"""

import argparse
import copy
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time
import zipfile

import yaml

from compare import compare_charm

# The rust part's binary: `cargo install --root "$CRAFT_PART_INSTALL"` puts it in bin/.
BINARY_IN_INSTALL = "bin/github-runner"


class Report:
    """The table of what was compared, and the differences found."""

    def __init__(self):
        self.rows = []
        self.failures = []
        self.notes = []

    def check(self, subject, what, problems):
        """Record one comparison; `problems` is a list of strings (empty: it passed)."""
        problems = list(problems)
        self.rows.append((subject, what, "ok" if not problems else "FAIL"))
        self.failures.extend(f"{subject}: {what}: {p}" for p in problems)
        return not problems

    def note(self, message):
        self.notes.append(message)

    def print(self):
        width = max((len(r[0]) for r in self.rows), default=0)
        what_width = max((len(r[1]) for r in self.rows), default=0)
        for subject, what, result in self.rows:
            print(f"  {subject:<{width}}  {what:<{what_width}}  {result}")
        for note in self.notes:
            print(f"note: {note}")
        for failure in self.failures:
            print(f"FAIL: {failure}")


def clean_env(work):
    """The environment for charmcraft: its state, cache, logs and home in `work`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRAFT_", "CHARMCRAFT_"))}
    dirs = {
        "HOME": "home",
        "XDG_CACHE_HOME": "xdg/cache",
        "XDG_CONFIG_HOME": "xdg/config",
        "XDG_DATA_HOME": "xdg/data",
        "XDG_STATE_HOME": "xdg/state",
        "XDG_RUNTIME_DIR": "xdg/runtime",
    }
    for var, sub in dirs.items():
        path = work / sub
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(path)
    return env


def charmcraft_cli(args, project, env):
    """Run the venv's charmcraft; (returncode, stdout, stderr)."""
    exe = pathlib.Path(sys.executable).parent / "charmcraft"
    done = subprocess.run([str(exe), *args], cwd=project, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def last_lines(text, n=6):
    return " | ".join(line for line in text.strip().splitlines()[-n:])


# ---------------------------------------------------------------------------------------------
# charmcraft's own build of each platform


def prebuilt_parts(parts, binary):
    """The project's parts with the rust part's build replaced by installing `binary`.

    Everything else of the part (source, override-pull, organize, stage, prime, ...) is kept;
    the plugin's own keys (rust-*) and build-packages/build-snaps (what the plugin's build
    needs) go with the plugin."""
    parts = copy.deepcopy(parts)
    rust = [name for name, part in parts.items() if part.get("plugin") == "rust"]
    if len(rust) != 1:
        sys.exit(f"check.py: expected one part with `plugin: rust`, found {rust}")
    part = parts[rust[0]]
    for key in list(part):
        if key.startswith("rust-") or key in ("build-packages", "build-snaps", "override-build"):
            del part[key]
    part["plugin"] = "nil"
    # The rust plugin's `cargo install` also leaves its bookkeeping in the install dir: made
    # here too, so the part's prime filter is seen to drop it.
    part["override-build"] = (
        f'install -D -m 0755 {shlex.quote(str(binary))} "$CRAFT_PART_INSTALL/{BINARY_IN_INSTALL}"\n'
        'touch "$CRAFT_PART_INSTALL/.crates.toml" "$CRAFT_PART_INSTALL/.crates2.json"\n'
    )
    return parts


def charmcraft_build(platform, project_dir, binary, work, out):
    """Prime and pack `platform` with charmcraft's services; (charm path, prime dir, project dict)."""
    import craft_parts.callbacks
    from charmcraft.application.main import create_app
    from charmcraft.services.lifecycle import LifecycleService
    from craft_application import ServiceFactory

    class PrebuiltLifecycleService(LifecycleService):
        """charmcraft's LifecycleService, with the prebuilt binary for the rust part."""

        def _validate_build_plan(self):
            # The host (Debian) is not the build base (Ubuntu): that is the point.
            pass

        def _init_lifecycle_manager(self):
            project = self._project
            parts = project.parts
            project.parts = prebuilt_parts(parts, binary)
            try:
                return super()._init_lifecycle_manager()
            finally:
                project.parts = parts

    craft_parts.callbacks.unregister_all()  # the previous platform's post-prime callbacks
    # Each platform's StateService makes its state directory and removes it at exit: one each.
    os.environ["CRAFT_STATE_DIR"] = str(work / "craft-state")
    app = create_app()  # registers charmcraft's services
    ServiceFactory.register("lifecycle", PrebuiltLifecycleService)
    app.project_dir = project_dir
    app._configure_early_services()  # the project service's project_dir
    app._initialize_craft_parts()  # charmcraft's plugins, as at its start
    app.services.get("build_plan").set_platforms(platform)
    app.services.get("project").configure(platform=platform, build_for=None)
    app._configure_services(None)
    app.services.update_kwargs("lifecycle", work_dir=work, cache_dir=work / "cache")
    app.configure({})  # the state's charmcraft.started_at (the manifest's charmcraft-started-at)

    lifecycle = app.services.get("lifecycle")
    lifecycle.run("prime")
    package = app.services.get("package")
    # As `charmcraft pack` (craft-application's PackCommand) after prime:
    package.update_project()
    package.write_metadata(lifecycle.prime_dir)
    package.set_output_dir(out)
    package.pack_artifacts()
    (charm,) = package.get_artifacts().values()
    return charm, lifecycle.prime_dir, app.services.get("project").get().marshal()


# ---------------------------------------------------------------------------------------------
# comparisons


def check_analyse(report, label, charm, project, env, manifest_analysis):
    """`charmcraft analyse --format=json`: every lint ok or nonapplicable; the attributes it
    finds are those charmcraft's manifest records."""
    rc, out, err = charmcraft_cli(["analyse", "--format=json", str(charm)], project, env)
    try:
        results = json.loads(out)
    except ValueError:
        report.check(label, "charmcraft analyse", [f"exit {rc}, no JSON: {last_lines(err)}"])
        return
    problems = [f"lint {r['name']}: {r['result']}: {r.get('text', '')}"
                for r in results
                if r.get("check_type") == "lint" and r.get("result") not in ("ok", "nonapplicable")]
    if rc != 0 and not problems:
        problems.append(f"exit {rc}: {last_lines(err)}")
    lints = sum(r.get("check_type") == "lint" for r in results)
    report.check(label, f"charmcraft analyse ({lints} lints)", problems)
    attributes = [{"name": r["name"], "result": r["result"]}
                  for r in results if r.get("check_type") == "attribute"]
    shown = ", ".join(f"{a['name']}={a['result']}" for a in attributes)
    report.check(label, f"analyse attributes ({shown})",
                 [] if {"attributes": attributes} == manifest_analysis
                 else [f"{attributes}, charmcraft's manifest has {manifest_analysis}"])


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=pathlib.Path, required=True)
    parser.add_argument("--binary", type=pathlib.Path, required=True)
    parser.add_argument("--work", type=pathlib.Path, required=True)
    parser.add_argument("charms", type=pathlib.Path, nargs="+")
    args = parser.parse_args()
    project = args.project.resolve()
    binary = args.binary.resolve()
    work = args.work.resolve()
    charms = {c.name: c.resolve() for c in args.charms}
    os.umask(0o022)  # charmcraft's build instance's (root's)

    env = clean_env(work)
    # The in-process charmcraft (the services below) gets the same environment.
    for key in [k for k in os.environ if k.startswith(("CRAFT_", "CHARMCRAFT_"))]:
        del os.environ[key]
    os.environ.update(env)
    report = Report()
    timings = []

    # 1. The project, as charmcraft validates and expands it.
    start = time.monotonic()
    rc, out, err = charmcraft_cli(["expand-extensions"], project, env)
    expanded = yaml.safe_load(out) if rc == 0 else None
    report.check("charmcraft.yaml", "charmcraft expand-extensions",
                 [] if rc == 0 else [f"exit {rc}: {last_lines(err)}"])
    timings.append(("expand-extensions", time.monotonic() - start))
    if expanded is None:
        report.print()
        return 1

    # 2. charmcraft's build of each platform this machine builds.
    from craft_cli import EmitterMode, emit

    emit.init(EmitterMode.QUIET, "charmcraft", "", log_filepath=work / "charmcraft-services.log")
    os.chdir(project)  # craft-parts' project directory (CRAFT_PROJECT_DIR) is the cwd
    import craft_platforms

    host = craft_platforms.DebianArchitecture.from_host().value
    platforms = [name for name, p in expanded["platforms"].items()
                 if any(on.endswith(f":{host}") or on == host for on in p.get("build-on", []))]
    built = {}
    try:
        for platform in platforms:
            start = time.monotonic()
            pwork = work / "build" / platform.replace(":", "-")
            out_dir = work / "charmcraft-out"
            out_dir.mkdir(parents=True, exist_ok=True)
            charm, prime, rendered = charmcraft_build(platform, project, binary, pwork, out_dir)
            built[charm.name] = (platform, charm, prime)
            report.check(platform, "parts == expand-extensions' parts",
                         [] if rendered.get("parts") == expanded.get("parts")
                         else ["the lifecycle's parts are not those expand-extensions shows"])
            timings.append((f"charmcraft prime+pack {platform}", time.monotonic() - start))
    except Exception as error:  # noqa: BLE001 (reported, with the log)
        emit.ended_ok()
        report.print()
        print(f"FAIL: charmcraft's build: {type(error).__name__}: {error} "
              f"(log: {work / 'charmcraft-services.log'})")
        return 1
    emit.ended_ok()

    # 3. scripts/pack's charms against charmcraft's.
    names = sorted(set(charms) | set(built))
    for name in names:
        label = name.removesuffix(".charm")
        if name not in built:
            report.check(label, "is a charmcraft platform", [f"charmcraft packs no {name} here"])
            continue
        if name not in charms:
            report.check(label, "made by scripts/pack", [f"scripts/pack made no {name}"])
            continue
        platform, reference, prime = built[name]
        start = time.monotonic()
        compare_charm(report, label, charms[name], reference, prime, binary)
        with zipfile.ZipFile(reference) as z:
            manifest_analysis = yaml.safe_load(z.read("manifest.yaml")).get("analysis")
        check_analyse(report, label, charms[name], project, env, manifest_analysis)
        timings.append((f"compare+analyse {label}", time.monotonic() - start))

    print("compared with charmcraft " + __import__("charmcraft").__version__ + ":")
    report.print()
    print("sizes:")
    for name in names:
        for who, path in (("scripts/pack", charms.get(name)), ("charmcraft", built.get(name, (0, None))[1])):
            if path:
                print(f"  {name}  {who:<12}  {os.path.getsize(path):>10} bytes")
    print("timings: " + ", ".join(f"{what} {secs:.1f} s" for what, secs in timings))
    if report.failures:
        print(f"check-charmcraft: {len(report.failures)} difference(s) with charmcraft (above)")
        return 1
    # 4. The comparison catches each break that matters (self-test on the first charm).
    import selftest

    first = next(name for name in names if name in built and name in charms)
    _, reference, prime = built[first]
    lines, missed = selftest.run(Report, charms[first], reference, prime, binary, work / "selftest")
    broken_project = work / "selftest" / "project"
    broken_project.mkdir(parents=True, exist_ok=True)
    for name in ("charmcraft.yaml", "config.yaml", "actions.yaml"):
        text = (project / name).read_text()
        (broken_project / name).write_text(text + ("bogus-key: 1\n" if name == "charmcraft.yaml" else ""))
    rc, _, _ = charmcraft_cli(["expand-extensions"], broken_project, env)
    lines.append(f"  broken: {'charmcraft.yaml with an unknown key':<34} "
                 f"{'caught by charmcraft expand-extensions' if rc != 0 else 'NOT caught'}")
    if rc == 0:
        missed.append("charmcraft.yaml with an unknown key")
    print("self-test, on broken copies of " + first + " and of charmcraft.yaml:")
    print("\n".join(lines))
    if missed:
        print(f"check-charmcraft: the self-test's breaks {missed} were not caught where expected")
        return 1
    print("check-charmcraft: scripts/pack's charms are what charmcraft packs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
