"""Command line: ``surveyfuse run SPEC.json`` and friends.

Thin by design: parse arguments, call the API, print, set the exit status.
Exit 0 on success, 2 on a user error (one line ``error[code]: message`` on
stderr, no traceback), 1 on an internal error, 128 + the signal's number when
stopped by SIGTERM, SIGHUP or Ctrl-C (after removing every temporary file, so
no output appears). Warnings print as ``warning: message`` on stderr.
``SURVEYFUSE_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from typing import Any, Sequence

from ._version import __version__
from .errors import ERROR_CODES, SurveyfuseError, SurveyfuseWarning
from .methods import DEFAULT_CANDIDATES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surveyfuse", description="Impute a block of variables jointly from a donor survey onto a recipient survey.")
    p.add_argument("--version", action="version", version=f"surveyfuse {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a task spec and write the imputed long table")
    run.add_argument("spec", help="task spec (JSON)")
    run.add_argument("--output", "-o", help="output file (overrides the spec)")
    run.add_argument("--format", choices=["parquet", "csv", "feather", "dta"], help="output format (default: from the extension)")
    run.add_argument("--method", help="method name (overrides the spec)")
    run.add_argument("--draws", type=int, help="number of draws (overrides the spec)")
    run.add_argument("--seed", type=int, help="seed (overrides the spec)")
    run.add_argument("--include-original", action="store_true", default=None,
                     help="also write the original recipient rows as _imp = 0 (block missing): "
                          "the layout of Stata's 'mi import flong, m(_imp) id(_row)'")
    run.add_argument("--save-model", metavar="PATH", help="also save the fitted model")
    run.add_argument("--chunk-rows", type=int, metavar="N", help="recipient rows imputed at a time (default 50000)")
    run.add_argument("--engine", choices=["local", "dask"], default="local", help="where partitions are imputed")
    run.add_argument("--workers", type=int, metavar="N", help="dask: local worker processes (default 2)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="dask: address of a running scheduler")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar (default: when stderr is a terminal)")
    run.add_argument("--strict", action="store_true",
                     help="fail (donors_dropped) instead of warning when constraints leave out over 1%% of the donor weight")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")

    diag = sub.add_parser("diagnose", help="common-support diagnostics: donor vs recipient predictors")
    diag.add_argument("spec")
    diag.add_argument("--out", metavar="DIR", help="write diagnostics.json, diagnostics.txt and support_flags.csv here")
    diag.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ev = sub.add_parser("evaluate", help="donor-only K-fold validation of methods: metrics.json, report.html, best method")
    ev.add_argument("spec", help="task spec (JSON); its donor, block, predictors, weights and constraints are used")
    ev.add_argument("--methods", default=",".join(DEFAULT_CANDIDATES),
                    help="comma-separated methods: backends (with parameters as name:param=value, e.g. hotdeck:k=50), auto, "
                         f"or microimpute / mice when installed; default {','.join(DEFAULT_CANDIDATES)}")
    ev.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    ev.add_argument("--draws", type=int, default=20, help="draws per held-out row (default 20)")
    ev.add_argument("--out", metavar="DIR", help="write metrics.json and report.html here")
    ev.add_argument("--max-rows", type=int, metavar="N", help="validate on a seeded sample of at most N donor rows")
    ev.add_argument("--seed", type=int, help="seed (default: the spec's, else 0)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")

    val = sub.add_parser("validate", help="check a task spec without running it")
    val.add_argument("spec")

    me = sub.add_parser("methods", help="list the imputation methods, or one method's parameters")
    me.add_argument("name", nargs="?", help="a method: print its parameters (default, allowed values, description)")
    errs = sub.add_parser("errors", help="list the error codes")
    errs.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    previous = _stop_on_signals()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.filterwarnings("always", category=SurveyfuseWarning)  # data left out is always said
            return _dispatch(args)
    except _Stopped as exc:
        print(f"stopped by signal {exc.signum}; nothing was written", file=sys.stderr)
        return 128 + exc.signum
    except SurveyfuseError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.to_dict()}), file=sys.stderr)
        else:
            print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # pragma: no cover - a bug, not a user error
        if os.environ.get("SURVEYFUSE_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n(set SURVEYFUSE_DEBUG=1 for a traceback, and please report it)", file=sys.stderr)
        return 1
    finally:
        _restore_signals(previous)


class _Stopped(BaseException):
    """Raised by the SIGTERM/SIGHUP handler: unwinds like Ctrl-C, so every writer removes its temporaries."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: Any) -> None:
    for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if s is not None:
            signal.signal(s, signal.SIG_IGN)  # a second signal must not interrupt the clean-up
    raise _Stopped(signum)


def _stop_on_signals() -> dict[int, Any]:
    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        s = getattr(signal, name, None)
        if s is not None:
            try:
                previous[s] = signal.signal(s, _on_signal)
            except ValueError:  # not the main thread (main() called from a worker thread): leave them be
                pass
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        try:
            signal.signal(s, handler)
        except ValueError:  # pragma: no cover
            pass


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """A surveyfuse warning as one line, ``warning[code]: message``; others as Python prints them."""
    code = getattr(message, "code", None)
    if code is None:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)
    else:
        print(f"warning[{code}]: {message}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from .pipeline.run import run_spec

        overrides: dict[str, Any] = {"draws": args.draws, "seed": args.seed, "include_original": args.include_original,
                                     "strict": True if args.strict else None}
        if args.method:
            overrides["method"] = args.method
            overrides["params"] = {}
        result = run_spec(
            args.spec, output=args.output, fmt=args.format, overrides=overrides, chunk_rows=args.chunk_rows,
            engine=args.engine, workers=args.workers, scheduler=args.scheduler, progress=args.progress,
        )
        if args.save_model:
            result.imputer.save(args.save_model)
            result.summary["model"] = args.save_model
        if args.json:
            print(json.dumps(result.summary, indent=1, default=str))
        elif not args.quiet:
            print(format_summary(result.summary))
        return 0
    if args.command == "diagnose":
        from .pipeline.run import diagnose_spec

        result = diagnose_spec(args.spec, out_dir=args.out)
        print(json.dumps(result.to_dict(), indent=1, default=float) if args.json else result.to_text())
        return 0
    if args.command == "evaluate":
        from .evaluate.crossval import evaluate_spec
        from .evaluate.report import text_table, write_report

        ev = evaluate_spec(args.spec, methods=args.methods, folds=args.folds, draws=args.draws, seed=args.seed,
                           max_rows=args.max_rows, keep_examples=bool(args.out))
        if args.out:
            paths = write_report(ev, args.out, title=f"surveyfuse evaluation: {ev.metrics['settings'].get('name', '')}")
        print(json.dumps(ev.metrics, indent=1) if args.json else text_table(ev))
        if args.out and not args.json:
            print(f"wrote {', '.join(paths.values())}")
        return 0
    if args.command == "validate":
        from .pipeline.spec import load_spec

        spec = load_spec(args.spec)
        print(f"ok: spec '{args.spec}' is valid ({len(spec.block)} block variables, {len(spec.predictors)} predictors)")
        return 0
    if args.command == "methods":
        from .methods import DEFAULT_METHOD, available_methods, parameter_table

        if args.name:
            for row in parameter_table(args.name):
                print(f"{row['name']}  default {json.dumps(row['default'])}: {row['expected']}\n    {row['description']}")
            return 0
        for m in available_methods():
            print(m + ("  (default)" if m == DEFAULT_METHOD else ""))
        return 0
    if args.command == "errors":
        if args.json:
            print(json.dumps(ERROR_CODES, indent=1))
        else:
            for code, meaning in ERROR_CODES.items():
                print(f"{code:28s} {meaning}")
        return 0
    raise AssertionError(args.command)


def format_summary(s: dict[str, Any]) -> str:
    c = s.get("constraints", {})
    viol = c.get("violations", {})
    lines = [
        f"surveyfuse: {s.get('name')}  method={s.get('method')} {json.dumps(s.get('method_params', {}), default=str)}",
        f"  donor rows      {s.get('donor_rows')} ({s.get('donor_rows_used')} used; "
        f"{s.get('dropped_missing_block', 0)} with missing block values, {s.get('dropped_zero_weight', 0)} with zero weight, "
        f"{sum((s.get('dropped_breaking_constraints') or {}).values())} breaking constraints)",
        f"  recipient rows  {s.get('recipient_rows')}",
        f"  draws           {s.get('draws')} (seed {s.get('seed')})"
        + ("; the original rows come first as _imp = 0" if s.get("include_original") else ""),
        f"  output          {s.get('output_rows')} rows -> {s.get('output')} ({s.get('format')}, "
        f"{s.get('chunks')} chunk{'s' if s.get('chunks') != 1 else ''}, engine {s.get('engine')})",
    ]
    check = (s.get("method_params") or {}).get("fit_check") or {}  # generative methods: see backends/deep/fit_check.py
    if check.get("ok") is not None:
        lines.append(f"  fit check       {'ok' if check['ok'] else 'FAILED'} on {check['rows']} held-out donor rows (energy skill "
                     f"{check['energy_skill']:+.1%}, 90% coverage {check['coverage90']:.2f})"
                     + (f"\n  warning         {check['warning']}" if check.get("warning") else ""))
    if viol:
        lines += _donor_check_lines(s.get("donor_constraints") or {})
        dropped = (s.get("donor_constraints") or {}).get("dropped_rows", 0)
        if not c.get("ok"):
            status = f"{sum(viol.values())} violations"
        elif dropped:  # never "ok" when donors were lost to the constraints
            status = f"no imputed record breaks one, but {dropped} donor rows were left out for breaking them"
        else:
            status = "ok, no record breaks a constraint"
        lines.append(f"  constraints     {status} ({c.get('rows_checked')} records checked)")
        for text, k in viol.items():
            rep = (c.get("repaired") or {}).get(text, 0)
            lines.append(f"    {k:8d} broken  {text}" + (f"  ({rep} repaired)" if rep else ""))
    else:
        lines.append("  constraints     none declared")
    for w in s.get("warnings") or []:
        lines.append(f"  warning         {w}")
    if "rows_off_support" in s:
        lines.append(f"  off support     {s['rows_off_support']} recipient rows flagged in _off_support")
    if s.get("raking"):
        r = s["raking"]
        lines.append(f"  raking          donor weights raked on {', '.join(r['columns'])} in {r['iterations']} iterations "
                     f"(largest margin gap {max(r['max_gap_before'].values()):.1%} -> {max(r['max_gap_after'].values()):.2%})")
    for t in (s.get("calibration") or {}).get("targets", []):
        lines.append(f"  calibration     {t['kind']} {t['target']}: target {t['value']:.4g}, model {t['before']:.4g} -> "
                     f"{t['after']:.4g} (mean of draws {t['realized_mean']:.4g})")
    sec = s.get("seconds", {})
    lines.append(f"  time            {sec.get('total')} s (read {sec.get('read')} s, fit {sec.get('fit')} s, impute {sec.get('impute')} s)")
    lines.append(f"  peak memory     {s.get('peak_memory_mb')} MB")
    return "\n".join(lines)


def _donor_check_lines(d: dict[str, Any]) -> list[str]:
    """The tolerance used, and what the donor check repaired and left out (per constraint, with the worst row)."""
    if not d:
        return []
    tol = d.get("tolerance", {})
    exact = d.get("exact_columns") or []
    exact_text = (", ".join(exact[:6]) + (", ..." if len(exact) > 6 else "")) if exact else "none"
    lines = [f"  tolerance       |lhs - rhs| <= {tol.get('abs'):g} + {tol.get('rel'):g} x sum of |terms| "
             f"(exact for integer columns: {exact_text})"]
    for text, own in (tol.get("constraints") or {}).items():
        lines.append(f"                  {own['abs']:g} + {own['rel']:g} x |terms| for {text}")
    dropped = d.get("dropped_rows", 0)
    lines.append(f"  donor check     {d.get('rows_checked')} rows: {d.get('repaired_rows', 0)} repaired (off by rounding "
                 f"only), {dropped} left out" + (f" ({d.get('dropped_weight_share', 0):.1%} of the weight) for breaking "
                                                 f"a constraint by more than the tolerance" if dropped else ""))
    for text, k in (d.get("repaired") or {}).items():
        lines.append(f"    {k:8d} repaired  {text}")
    for text, x in (d.get("dropped") or {}).items():
        worst = ""
        if x.get("largest_violation") is not None:
            rel = f" = {x['largest_relative']:.2%} of its terms" if x.get("largest_relative") is not None else ""
            worst = f"  (largest violation {x['largest_violation']:.6g}{rel}, donor row {x['largest_row']})"
        lines.append(f"    {x['rows']:8d} left out  {text}{worst}")
    return lines


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
