"""Output paths of every command: checked before any work (a refused one costs nothing),
never two outputs on one file, and ``-`` for stdout (which then holds that output alone)."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from roofline.cli import main
from roofline.errors import ReportError
from roofline.report.output import check_outputs, check_writable, write_json, write_text

MINE = '{"my": "data"}'


@pytest.fixture
def mine(tmp_path):
    """Someone's file, which no command may replace without --force."""
    p = tmp_path / "user.json"
    p.write_text(MINE)
    return p


@pytest.fixture
def no_work(monkeypatch):
    """Make any profiling, tracing or spec loading fail loudly: a command that gets that
    far has not checked its outputs first."""
    import roofline.counting
    import roofline.memory
    import roofline.spec

    def boom(*a, **k):
        raise AssertionError("work was done before the output paths were checked")

    for module, name in (
        (roofline.counting, "profile_spec"),
        (roofline.spec, "load_spec"),
        (roofline.memory, "estimate_from_params"),
        (roofline.memory, "estimate_from_spec"),
    ):
        monkeypatch.setattr(module, name, boom)


def one_line_error(capsys, *needles):
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("roofline: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


# ------------------------------------------------------------------ the library check


def test_check_writable(tmp_path, mine):
    assert check_writable(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    with pytest.raises(ReportError, match="not written by roofline"):
        check_writable(mine)
    assert check_writable(mine, force=True) == mine
    with pytest.raises(ReportError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(ReportError, match="is not a folder"):
        check_writable(mine / "r.json")  # a file where a folder would have to be
    ours = write_json(tmp_path / "ours.dat", {"a": 1})
    assert check_writable(ours) == ours  # recognised by content, as the writers do


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_file_that_is_not_a_regular_one_is_never_read(tmp_path, monkeypatch, special):
    """Recognising a report read the existing file whole: ``--json /dev/zero`` (or
    /dev/full) read until memory ran out, and a named pipe blocked for ever. Neither
    can be a report: it is refused as someone's file without being opened."""
    import pathlib

    if special == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)
    else:
        target = pathlib.Path(special)
    real_open = pathlib.Path.open

    def spy(self, *a, **k):
        assert self != target, f"{target} was opened"
        return real_open(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "open", spy)
    with pytest.raises(ReportError, match="exists and was not written by roofline"):
        check_writable(target)


def test_a_list_file_is_read_to_a_bound_to_recognise_it(tmp_path, monkeypatch, capsys):
    """A file starting with ``[`` was read whole to see whether it is a ``gpus --json``
    list: someone's gigabytes of JSON data went into memory before the refusal. Past
    the bound (64 MiB; 1 kB here, the same rule) it is not a device list."""
    import roofline.report.output as output

    listing = tmp_path / "gpus.json"
    assert main(["gpus", "--json", str(listing)]) == 0
    capsys.readouterr()
    assert check_writable(listing) == listing  # recognised: roofline wrote it
    monkeypatch.setattr(output, "_DEVICE_LIST_BYTES", 1024)
    assert listing.stat().st_size > 1024  # 46 devices, about 5 kB each
    with pytest.raises(ReportError, match="exists and was not written by roofline"):
        check_writable(listing)


@pytest.mark.parametrize("error", [UnicodeEncodeError, KeyboardInterrupt])
def test_a_failed_write_leaves_the_old_report_whole(tmp_path, monkeypatch, error):
    """The report was written in place: a write that failed part-way (a full disk,
    Ctrl-C) left the old report truncated to a half-written new one."""
    old = write_json(tmp_path / "r.json", {"old": 1})
    before = old.read_text()
    text = '{"generator": "roofline"}' + " " * 200_000
    if error is UnicodeEncodeError:
        text += "\udc80"  # not encodable: the write fails after 200 kB
    else:
        import roofline.report.output as output

        def interrupted(*a, **k):
            raise KeyboardInterrupt  # as Ctrl-C between the write and the rename

        monkeypatch.setattr(output.os, "replace", interrupted)
    with pytest.raises(error):
        write_text(old, text)
    assert old.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary left


def test_a_rewrite_keeps_permissions_and_writes_through_links(tmp_path):
    """Replacing a report by a rename keeps what replacing its content kept: the file's
    mode, the target of a symbolic link, and both names of a hard-linked file."""
    first = write_json(tmp_path / "a.json", {"v": 1})
    os.chmod(first, 0o640)
    write_json(first, {"v": 2})
    assert os.stat(first).st_mode & 0o777 == 0o640
    link = tmp_path / "link.json"
    os.symlink(first, link)
    write_json(link, {"v": 3})
    assert link.is_symlink() and json.loads(first.read_text())["v"] == 3
    hard = tmp_path / "hard.json"
    os.link(first, hard)
    write_text(first, '{"generator": "roofline", "v": 4}')
    assert json.loads(hard.read_text())["v"] == 4


def test_a_report_in_a_read_only_folder_is_still_rewritten(tmp_path, monkeypatch):
    """The temporary file beside a report needs the folder's permission, which writing
    in place never did: a writable report in a folder where no file can be created
    (a shared results folder) was refused after the rename landed. Root may create
    files anywhere, so the folder's refusal is stood in for."""
    import roofline.report.output as output

    report = write_json(tmp_path / "r.json", {"v": 1})

    def read_only_folder(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output.tempfile, "mkstemp", read_only_folder)
    write_json(report, {"v": 2})  # written in place
    assert json.loads(report.read_text())["v"] == 2
    with pytest.raises(ReportError, match=r"cannot write .*new\.json: Permission denied"):
        write_json(tmp_path / "new.json", {"v": 3})  # no file there to write in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_check_outputs(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.csv"
    assert check_outputs({"--json": str(a), "--csv": str(b), "--html": None}) is None
    assert check_outputs({"--json": "-", "--csv": str(b)}, to_stdout=("--json",)) == "--json"
    with pytest.raises(ReportError, match="--html cannot write to standard output"):
        check_outputs({"--html": "-"}, to_stdout=("--json",))
    with pytest.raises(ReportError, match="--json and --csv both write to standard output"):
        check_outputs({"--json": "-", "--csv": "-"}, to_stdout=("--json", "--csv"))
    # one file under two spellings, a symbolic link and a hard link
    with pytest.raises(ReportError, match="--json and --csv both name"):
        check_outputs({"--json": str(a), "--csv": str(tmp_path / "x" / ".." / "a.json")})
    write_json(a, {})
    os.symlink(a, tmp_path / "link.json")
    os.link(a, tmp_path / "hard.json")
    for other in ("link.json", "hard.json"):
        with pytest.raises(ReportError, match="both name"):
            check_outputs({"--json": str(a), "--html": str(tmp_path / other)})
    # an input is never an output, even with force (and a file not yet there is no input)
    with pytest.raises(ReportError, match=r"--json names .*link.json, which this command reads"):
        check_outputs({"--json": str(tmp_path / "link.json")}, force=True, inputs=[a])
    assert check_outputs({"--json": str(b)}, inputs=[b, "-"]) is None


# -------------------------------------------------------- B4: refused before any work


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "{spec}", "--json", "{mine}"],
        ["profile", "{spec}", "--csv", "{mine}"],
        ["profile", "{spec}", "--gpu", "3090", "--html", "{mine}"],
        ["profile", "{spec}", "--json", "{tmp}/ok.json", "--csv", "{mine}"],
        ["compare", "{spec}", "{spec}", "--gpu", "3090", "--json", "{mine}"],
        ["compare", "{spec}", "{spec}", "--gpu", "3090", "--html", "{mine}"],
        ["vram", "{spec}", "--json", "{mine}"],
        ["vram", "--params", "7B", "--json", "{mine}"],
        ["gpus", "--json", "{mine}"],
        ["gpus", "show", "3090", "--json", "{mine}"],
    ],
)
def test_a_users_file_is_refused_before_any_work(spec, tmp_path, mine, no_work, capsys, argv):
    argv = [
        a.replace("{spec}", str(spec)).replace("{mine}", str(mine)).replace("{tmp}", str(tmp_path))
        for a in argv
    ]
    assert main(argv) == 2
    one_line_error(capsys, "exists and was not written by roofline")
    assert mine.read_text() == MINE
    assert not (tmp_path / "ok.json").exists()  # the other output is not written either


def test_compare_counts_its_analyses_before_profiling(spec, no_work, capsys):
    assert main(["compare", str(spec), "--gpu", "3090"]) == 2
    one_line_error(capsys, "compare needs at least two analyses")
    # two names of one device: said, rather than "give two --gpu" to a user who did
    assert main(["compare", str(spec), "--gpu", "3090", "--gpu", "rtx-3090"]) == 2
    one_line_error(capsys, "(3090, rtx-3090 name one device)")


def test_the_write_checks_again(spec, tmp_path, monkeypatch, capsys):
    """A user's file that appears while the command works is still not replaced."""
    import roofline.counting

    target = tmp_path / "late.json"
    profile_spec = roofline.counting.profile_spec

    def profile_then_user_writes(*a, **k):
        target.write_text(MINE)
        return profile_spec(*a, **k)

    monkeypatch.setattr(roofline.counting, "profile_spec", profile_then_user_writes)
    assert main(["profile", str(spec), "--json", str(target)]) == 2
    one_line_error(capsys, "late.json exists and was not written by roofline")
    assert target.read_text() == MINE


# ------------------------------------------------------- B5: two outputs on one file


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "{spec}", "--json", "{t}/same.out", "--csv", "{t}/same.out"], "both name"),
        (
            ["profile", "{spec}", "--gpu", "3090", "--json", "{t}/x", "--html", "{t}/./x"],
            "both name",
        ),
        (
            ["compare", "{spec}", "{spec}", "--gpu", "3090", "--json", "{t}/r", "--html", "{t}/r"],
            "",
        ),
        (["profile", "{spec}", "--json", "-", "--csv", "-"], "both write to standard output"),
    ],
)
def test_two_outputs_on_one_file_are_refused(spec, tmp_path, no_work, capsys, argv, message):
    argv = [a.replace("{spec}", str(spec)).replace("{t}", str(tmp_path)) for a in argv]
    before = sorted(os.listdir(tmp_path))
    assert main(argv) == 2
    one_line_error(capsys, message or "both name", "give ")
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "{spec}", "--json", "{spec}", "--force"],
        ["profile", "{spec}", "--csv", "{t}/../{t_name}/{spec_name}", "--force"],
        ["profile", "{spec}", "--gpu", "3090", "--html", "{spec}", "--force"],
        ["compare", "{spec}", "{spec}", "--gpu", "3090", "--html", "{spec}", "--force"],
        ["vram", "{spec}", "--json", "{spec}", "--force"],
        ["bench", "{spec}", "--json", "{spec}", "--force"],
    ],
)
def test_an_output_never_replaces_the_spec_it_reads(spec, tmp_path, no_work, capsys, argv):
    """--force replaced the model spec itself with the report (a slip of the shell's
    completion away): the input is refused as an output, --force or not."""
    argv = [
        a.replace("{spec_name}", spec.name)
        .replace("{spec}", str(spec))
        .replace("{t_name}", tmp_path.name)
        .replace("{t}", str(tmp_path))
        for a in argv
    ]
    before = spec.read_text()
    assert main(argv) == 2
    one_line_error(capsys, "which this command reads", "--force does not apply")
    assert spec.read_text() == before


@pytest.mark.parametrize(
    ("model", "py"),
    [
        ("mynet:build", "mynet.py"),
        ("./mynet.py:build", "mynet.py"),
        ("pkg.net:build", "pkg/net.py"),
    ],
)
@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_an_output_never_replaces_the_model_code_the_spec_imports(
    tmp_path, no_work, capsys, model, py, option
):
    """``--json mynet.py --force`` replaced the model's own source, beside its spec,
    with the report: it is read as much as the spec is, so it is refused likewise."""
    source = tmp_path / py
    source.parent.mkdir(exist_ok=True)
    source.write_text("def build():\n    pass\n")
    spec = tmp_path / "net.yaml"
    spec.write_text(f"model: {model}\ninputs: [{{shape: [1, 4]}}]\n")
    assert main(["profile", str(spec), option, str(source), "--force"]) == 2
    one_line_error(capsys, "which this command reads", "--force does not apply")
    assert source.read_text() == "def build():\n    pass\n"


@pytest.mark.parametrize("ext", ["yaml", "yml"])
def test_an_output_never_replaces_a_device_file_in_a_specs_folder(
    spec, tmp_path, no_work, capsys, ext
):
    """The files of a ``--specs DIR`` are read as much as ``--gpu FILE`` is: one given as
    an output is refused, --force or not (it was replaced before)."""
    folder = tmp_path / "specs"
    folder.mkdir()
    device = folder / f"mine.{ext}"
    device.write_text("key: mine\n")  # never parsed: the check comes first
    argv = ["profile", str(spec), "--specs", str(folder), "--json", str(device), "--force"]
    assert main(argv) == 2
    one_line_error(capsys, "which this command reads", "--force does not apply")
    assert device.read_text() == "key: mine\n"


# ----------------------------------------------------------------- B6: `-` is stdout


def test_profile_json_to_stdout_alone(spec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    csv_file = tmp_path / "rows.csv"
    assert main(["profile", str(spec), "--gpu", "3090", "--json", "-", "--csv", str(csv_file)]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # the whole of stdout is the JSON: no table around it
    assert data["generator"].startswith("roofline") and data["roofline"]["layers"]
    assert not (tmp_path / "-").exists() and "wrote -" not in err
    assert f"wrote {csv_file}" in err and csv_file.read_text().startswith("name,")


def test_profile_csv_to_stdout_alone(spec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["profile", str(spec), "--csv", "-"]) == 0
    out, _ = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and rows[0]["name"] == "conv" and not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "{spec}", "--gpu", "3090", "--html", "-"], "--html cannot write to standard"),
        (["compare", "{spec}", "{spec}", "--gpu", "3090", "--html", "-"], "--html cannot"),
        (["profile", "{spec}", "--json", "-", "--compare-counters"], "--compare-counters shows"),
    ],
)
def test_stdout_refused_where_it_cannot_work(spec, no_work, capsys, argv, message):
    assert main([a.replace("{spec}", str(spec)) for a in argv]) == 2
    one_line_error(capsys, message)


def test_compare_json_to_stdout_alone(spec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(spec), "--gpu", "3090", "--gpu", "t4", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["analyses"]) == 2
    assert "profiling" in err and not (tmp_path / "-").exists()


@pytest.mark.parametrize("source", [["{spec}"], ["--params", "100M"]])
def test_vram_json_to_stdout_alone(spec, tmp_path, monkeypatch, capsys, source):
    monkeypatch.chdir(tmp_path)
    argv = ["vram", *[a.replace("{spec}", str(spec)) for a in source], "--json", "-"]
    assert main([*argv, "--gpu", "3090"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert data["total"] > 0 and data["devices"][0]["device"]
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("argv", [["gpus"], ["gpus", "show", "3090"]])
def test_gpus_json_to_stdout_is_the_file_content(tmp_path, capsys, argv):
    target = tmp_path / "d.json"
    assert main([*argv, "--json", str(target)]) == 0
    capsys.readouterr()
    assert main([*argv, "--json", "-"]) == 0
    assert capsys.readouterr().out == target.read_text()


def test_a_folder_made_for_an_output_is_announced(spec, tmp_path, capsys):
    # missing folders are created (as for reports/NAME.html), and said, so a typo shows
    out = tmp_path / "new" / "sub" / "p.json"
    assert main(["profile", str(spec), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"created folder {out.parent}" in err and out.is_file()
    assert main(["profile", str(spec), "--json", str(out.parent / "q.json")]) == 0
    assert "created folder" not in capsys.readouterr().err  # it exists now


# ------------------------------------------------------------- empty names given


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", ""], "the spec file name is empty"),
        (["compare", "{spec}", "", "--gpu", "3090"], "the spec file name is empty"),
        (["bench", "", "--no-predict"], "the spec file name is empty"),
        (["profile", "{spec}", "--json", ""], "--json was given an empty file name"),
        (["profile", "{spec}", "--csv", ""], "--csv was given an empty file name"),
        (["gpus", "--json", ""], "--json was given an empty file name"),
        (["vram", "--params", "7B", "--json", ""], "--json was given an empty file name"),
        (["gpus", "--specs", ""], "--specs was given an empty folder name"),
        (["profile", "{spec}", "--gpu", "3090", "--specs", ""], "--specs was given an empty"),
        (["profile", "{spec}", "--gpu", ""], "empty device name ''"),
    ],
)
def test_an_empty_name_is_refused_as_empty(spec, tmp_path, monkeypatch, capsys, argv, message):
    """``Path("")`` is ``.``: an empty spec or output name was answered ". is a folder"
    (a folder the user never named), ``--specs ''`` read every .yaml of the current
    folder as a device file, and ``--gpu ''`` was taken for no --gpu at all (the
    profile ran without a roofline)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.yaml").write_text("key: [\n")  # would fail if "." were read
    assert main([a.replace("{spec}", str(spec)) for a in argv]) == 2
    one_line_error(capsys, message)


def test_reports_and_the_ceilings_cache_share_one_where_can_files_be_made_check(
    tmp_path, monkeypatch
):
    """check_writable and check_cache_writable once carried two copies of this check;
    both now ask cannot_create_in, and each keeps its own message around its reason."""
    from roofline.devices.cache import check_cache_writable
    from roofline.errors import DeviceError
    from roofline.report.output import cannot_create_in

    blocker = tmp_path / "file"
    blocker.write_text("")
    # the nearest existing of file/a/b is the file itself: files cannot go under it
    assert cannot_create_in(blocker / "a" / "b") == f"{blocker} is not a folder"
    assert cannot_create_in(tmp_path / "a" / "b") is None
    # a folder this process may not create entries in (faked: the tests may run as root)
    monkeypatch.setattr(os, "access", lambda path, mode: path != tmp_path)
    assert cannot_create_in(tmp_path / "a") == f"permission denied in {tmp_path}"
    with pytest.raises(
        ReportError, match=f"^cannot write {tmp_path}/r.json: permission denied in {tmp_path}$"
    ):
        check_writable(tmp_path / "r.json")
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DeviceError) as err:
        check_cache_writable()
    assert str(err.value) == (
        f"cannot write measured ceilings under {tmp_path}/cache/measured"
        f" (permission denied in {tmp_path}); set $ROOFLINE_CACHE_DIR"
    )
