"""Fast checks of the e2e helpers: generated media and the serve command."""

from __future__ import annotations

import base64
import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

cv2 = pytest.importorskip("cv2")
pytest.importorskip("av")

import eval_local  # noqa: E402
import mm_media  # noqa: E402
import serve  # noqa: E402


def test_png_round_trip_keeps_the_square() -> None:
    img = mm_media.square_image("red", size=64, square=32, offset=16)
    decoded = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(mm_media.png_bytes(img), np.uint8), 1),
        cv2.COLOR_BGR2RGB,
    )
    assert decoded.shape == (64, 64, 3)
    assert tuple(decoded[32, 32]) == mm_media.COLOURS["red"]
    assert tuple(decoded[0, 0]) == (255, 255, 255)
    assert tuple(decoded[15, 15]) == (255, 255, 255)
    assert tuple(decoded[48, 48]) == (255, 255, 255)


def test_square_image_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown colour 'pink'"):
        mm_media.square_image("pink")
    with pytest.raises(ValueError, match="does not fit"):
        mm_media.square_image(size=32, square=32, offset=1)


def test_mp4_decodes_with_opencv_to_the_moving_square(tmp_path: Path) -> None:
    frames = mm_media.moving_square_frames(num_frames=8, size=64, square=16)
    path = tmp_path / "v.mp4"
    path.write_bytes(mm_media.mp4_bytes(frames, fps=4))
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(4.0)
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    cap.release()
    assert len(decoded) == 8
    # The square's column (dark in every channel but blue) moves right.
    lefts = []
    for frame in decoded:
        # A blue square: the red channel (BGR index 2) is low inside it.
        cols = np.nonzero(frame[32, :, 2] < 128)[0]
        lefts.append(int(cols.min()))
    assert lefts[0] <= 2 and lefts[-1] >= 64 - 16 - 2
    assert lefts == sorted(lefts)


def test_data_url() -> None:
    url = mm_media.data_url("video/mp4", b"\x00\x01")
    assert url == "data:video/mp4;base64," + base64.b64encode(b"\x00\x01").decode()
    part = mm_media.video_part(b"x")
    assert part["type"] == "video_url"


def test_free_port_is_bindable() -> None:
    port = serve.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_serve_command_binds_loopback_only(tmp_path: Path) -> None:
    cmd = serve.serve_command(tmp_path, 12345, "tiny")
    assert cmd[1:5] == ["-m", "vllm.entrypoints.cli.main", "serve", str(tmp_path)]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "12345"
    assert json.loads(cmd[cmd.index("--limit-mm-per-prompt") + 1]) == {
        "image": 2,
        "video": 2,
    }


def test_serve_command_for_remote_code_and_video_limits(tmp_path: Path) -> None:
    def limits(cmd: list[str]) -> dict[str, int]:
        return dict(json.loads(cmd[cmd.index("--limit-mm-per-prompt") + 1]))

    plain = serve.serve_command(tmp_path, 12345, "tiny")
    assert "--trust-remote-code" not in plain
    assert limits(plain) == {"image": 2, "video": 2}
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["KeyeVL1_5ForConditionalGeneration"],
                "auto_map": {"AutoConfig": "configuration_keye.KeyeVL1_5Config"},
            }
        )
    )
    keye = serve.serve_command(tmp_path, 12345, "tiny")
    assert "--trust-remote-code" in keye
    assert limits(keye) == {"image": 2, "video": 1}  # what Keye-VL-1.5 supports


def test_resolve_model_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        serve.resolve_model(str(tmp_path))


def _run_result(label: str, char_f1: float, resp: str) -> eval_local.RunResult:
    payload = {
        "vllm_file": f"/{label}/vllm/__init__.py",
        "metrics": {"exact_match": 0.25, "char_f1": char_f1},
        "generations": [{"doc_id": 0, "target": "red", "resp": resp}],
    }
    return eval_local.RunResult(label, Path("/x"), "info", payload, 1.0)


def test_eval_compare_passes_only_within_tolerance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = _run_result("pristine", 0.5, "red")
    assert eval_local.compare(a, _run_result("patched", 0.5, "red"), 0.0)
    out = capsys.readouterr().out
    assert "identical generations" in out and "1/1" in out
    assert not eval_local.compare(a, _run_result("patched", 0.501, "reed"), 0.0)
    assert "0/1" in capsys.readouterr().out
    assert eval_local.compare(a, _run_result("patched", 0.501, "reed"), 0.002)
