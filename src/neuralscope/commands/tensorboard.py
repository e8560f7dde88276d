"""``neuralscope export-tensorboard RUN OUTDIR`` and ``neuralscope import-tensorboard LOGDIR RUN``."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("export-tensorboard", help="write a run as TensorBoard event files",
                       description="Write the scalars, histograms, images and text of a neuralscope "
                                   "run as a TensorBoard event file in OUTDIR (tensorboard --logdir OUTDIR).")
    p.add_argument("run", metavar="RUN", help="run directory (holds run.sqlite)")
    p.add_argument("outdir", metavar="OUTDIR", help="directory for the event file")
    p.set_defaults(func=_export)
    q = sub.add_parser("import-tensorboard", help="read TensorBoard logs into a run",
                       description="Read TensorBoard event files under LOGDIR (torch.utils.tensorboard, "
                                   "tensorboardX, TensorFlow) into the run directory RUN.")
    q.add_argument("logdir", metavar="LOGDIR", help="TensorBoard log directory or event file")
    q.add_argument("run", metavar="RUN", help="run directory to create or append to")
    q.add_argument("--partial", action="store_true",
                   help="import the readable records of a truncated or corrupt event file (the problem "
                        "is noted in the run) instead of refusing it")
    q.set_defaults(func=_import)


def _export(args: argparse.Namespace) -> int:
    from ..track.tensorboard import export_tensorboard

    path = export_tensorboard(args.run, args.outdir)
    print(f"wrote {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..track.tensorboard import import_tensorboard

    counts = import_tensorboard(args.logdir, args.run, partial=args.partial)
    errors = counts.pop("errors", [])
    done = ", ".join(f"{n} {k} value(s)" for k, n in counts.items() if n and k != "skipped")
    skipped = (f"; skipped {counts['skipped']} value(s) of other kinds or with names the Run API refuses"
               if counts["skipped"] else "")
    print(f"imported {done or 'nothing'} into {args.run}{skipped}")
    for e in errors:
        print(f"neuralscope: warning: {e} (imported the records before it)", file=sys.stderr)
    return 0
