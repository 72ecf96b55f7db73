"""metrics.jsonl: one JSON line per logged step ("train_step"), per epoch ("epoch") and per
resume ("resume": the step and the changed settings).

    append_jsonl(path, record)       # one line, appended
    read_metrics(run_dir)            # the records (a line cut short by a kill is dropped)
    truncate_metrics(path, step)     # keep the records of steps <= step (a resume)
"""
import json
import os

from tinygen.serialization import file_mode, naming_file


def append_jsonl(path, record):
    with naming_file(path), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _parse_lines(text):
    """Records of a metrics.jsonl; a line cut short by a kill (the last) is dropped."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return _parse_lines(f.read())


def truncate_metrics(path, step):
    """Keep the records of steps <= `step` (those the checkpoint at `step` has seen), so a
    resumed run logs each later step once; rewritten atomically (temporary file + rename)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        records = _parse_lines(f.read())
    kept = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= step]
    tmp = f"{path}.tmp{os.getpid()}"
    with naming_file(path), open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, file_mode(path))         # an overwrite keeps the file's permissions
    os.replace(tmp, path)
