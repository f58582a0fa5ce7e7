"""``dunpai comms demo`` and ``dunpai comms demo-ptt``: the comms part end to end on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dunpai.cli.common import OutOpt, console
from dunpai.cli.demos import start_clean


def demo(out: OutOpt = None,
         workdir: Annotated[Path, typer.Option(help="演示数据目录，每次重新开始 / demo directory, started afresh "
                                                    "on every run")] = Path(".dunpai/comms-demo")) -> None:
    """演示：三位用户、群组、带 GPS 的照片、移除成员 / demo on loopback with three users."""
    from dunpai.cli.demos.comms import main

    start_clean(workdir, "--workdir")
    result = main(out, workdir, say=console.print)
    console.print("\n[bold]服务端数据库里只有这些 / what the service's database holds:[/bold]")
    for table, info in result.server_tables.items():
        console.print(f"  {table}: {info['rows']} rows")
        for row in info["sample"][:1]:
            console.print(f"    {row}")
    if out:
        console.print(f"结果 / result: {out}")


def demo_ptt(workdir: Annotated[Path, typer.Option(help="输出目录（WAV 与 JSON），每次重新开始 / output "
                                                        "directory (WAV and JSON), started afresh on every run")]
             = Path(".dunpai/ptt-demo"),
             pace: Annotated[float, typer.Option(help="语音节奏，1 = 实时 / speech pacing, 1 = real time")] = 1.0,
             ) -> None:
    """演示：对讲组、话权请求、紧急抢占、端到端加密语音 / push-to-talk talk-group demo on loopback."""
    from dunpai.cli.demos.ptt import main as ptt_main

    start_clean(workdir, "--workdir")
    r = ptt_main(workdir, pace=pace, say=console.print)
    console.print("\n[bold]各听众收到的语音 / what each listener heard:[/bold]")
    for h in r.heard:
        console.print(f"  {h['listener']:>9} ← {h['talker']:<9} {h['frames']:>4} frames "
                      f"{h['packet_sizes']} B  相似度 / similarity {h['similarity']}  {workdir / h['wav']}")
    rl = r.relay
    console.print(f"中继处理 / relay handled {rl['media_frames_handled']} frames of {rl['frame_sizes']} B; "
                  f"含地址的消息 / messages with an address: {rl['messages_with_an_address']}; "
                  f"解码尝试相似度 / decode-attempt similarity {rl['decode_attempt_similarity']}")
    console.print(f"结果 / result: {workdir / 'ptt-demo.json'}")
