"""BENCHMARKS.md keeps one section per benchmark: a rerun replaces its figures, the others stay."""

from benchmarks.report import write_section

HEAD = "# Benchmarks\n\nCommand: make bench\n\n| a | 1 |\n"
SERVICE = "\n## Service throughput\n\nCommand: make bench-service\n\n| b | 2 |\n"
KERNEL = "\n## The kernel beside a busy process\n\n| c | 3 |\n"


def test_a_rerun_replaces_its_own_section_and_keeps_the_others(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    for text in (HEAD, SERVICE, KERNEL):
        write_section(path, text)
    write_section(path, SERVICE.replace("| b | 2 |", "| b | 5 |"))
    write_section(path, HEAD.replace("| a | 1 |", "| a | 4 |"))
    text = path.read_text()
    assert text.count("## Service throughput") == 1 and "| b | 5 |" in text and "| b | 2 |" not in text
    assert text.count("# Benchmarks") == 1 and "| a | 4 |" in text and "| a | 1 |" not in text
    assert "| c | 3 |" in text
    assert text.index("# Benchmarks") < text.index("## Service") < text.index("## The kernel")
    write_section(path, KERNEL)
    assert path.read_text() == text and text.endswith("|\n")


def test_the_head_is_written_into_a_new_file_and_a_section_appended(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, KERNEL)
    write_section(path, HEAD)
    assert path.read_text().index("# Benchmarks") < path.read_text().index("## The kernel")
