from pathlib import Path

import pytest

from tf_varattn.data import corpora
from tf_varattn.data.corpora import DataError, load_split, read_pairs, resolve_data_dir


def write(path: Path, content, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return path


def test_reads_pairs_in_file_order_with_quoted_commas(tmp_path):
    path = write(tmp_path / "f.csv", 'answer,question\n"a, b",q1\n"say ""hi""",q2\nc,q3\n')
    sources, targets = read_pairs(path, "answer", "question")
    assert sources == ["a, b", 'say "hi"', "c"]
    assert targets == ["q1", "q2", "q3"]


def test_a_quote_left_open_names_its_line_wherever_it_is(tmp_path):
    rows = [f"s{i},q{i}" for i in range(1, 9)]
    # Near the end: the open quote would swallow the last rows into one cell.
    near_end = rows[:5] + ['"s6,q6'] + rows[6:]
    path = write(tmp_path / "end.csv", "answer,question\n" + "\n".join(near_end) + "\n")
    with pytest.raises(DataError, match=r"end.csv, line 7: a quoted field opened on this line is never closed"):
        read_pairs(path, "answer", "question")
    # Mid-file: the quote closes on a later line.
    middle = rows[:2] + ['"s3,q3', 's4,q4"', *rows[4:]]
    path = write(tmp_path / "mid.csv", "answer,question\n" + "\n".join(middle) + "\n")
    with pytest.raises(DataError, match=r"mid.csv, line 4: this row runs on to line 5"):
        read_pairs(path, "answer", "question")
    # A stray quote inside an unquoted field is refused too (strict quoting).
    path = write(tmp_path / "stray.csv", 'answer,question\na,q1\n"b"x,q2\n')
    with pytest.raises(DataError, match=r"stray.csv, line 3: malformed CSV"):
        read_pairs(path, "answer", "question")


def test_column_order_does_not_matter(tmp_path):
    path = write(tmp_path / "f.csv", "question,extra,answer\nq,x,a\n")
    assert read_pairs(path, "answer", "question") == (["a"], ["q"])


def test_missing_file_names_path_and_download_command(tmp_path):
    with pytest.raises(DataError, match=r"Missing data file .*nope\.csv.*tf_varattn\.data\.download"):
        read_pairs(tmp_path / "nope.csv", "answer", "question")


def test_missing_column_names_line_and_columns(tmp_path):
    path = write(tmp_path / "f.csv", "line,reply\na,b\n")
    with pytest.raises(DataError, match=r"f\.csv, line 1: missing column\(s\) \['answer', 'question'\]"):
        read_pairs(path, "answer", "question")


def test_empty_cell_names_its_line(tmp_path):
    path = write(tmp_path / "f.csv", "answer,question\na,q\nb,q\n,q\n")
    with pytest.raises(DataError, match=r"line 4: empty 'answer' cell"):
        read_pairs(path, "answer", "question")


def test_whitespace_only_cell_is_empty(tmp_path):
    path = write(tmp_path / "f.csv", "answer,question\na,   \n")
    with pytest.raises(DataError, match=r"line 2: empty 'question' cell"):
        read_pairs(path, "answer", "question")


def test_non_utf8_byte_names_its_line(tmp_path):
    path = write(tmp_path / "f.csv", b"answer,question\na,q\ncaf\xe9,q\n")
    with pytest.raises(DataError, match=r"line 3: byte b'\\xe9' is not UTF-8.*iconv"):
        read_pairs(path, "answer", "question")


def test_row_with_wrong_field_count_is_malformed(tmp_path):
    path = write(tmp_path / "f.csv", "answer,question\na,q\nb,q,extra\n")
    with pytest.raises(DataError, match=r"line 3: malformed row with 3 field\(s\), expected 2"):
        read_pairs(path, "answer", "question")


def test_header_only_file_is_an_error(tmp_path):
    path = write(tmp_path / "f.csv", "answer,question\n")
    with pytest.raises(DataError, match="no rows"):
        read_pairs(path, "answer", "question")


def test_load_split_uses_task_columns_and_max_examples(tmp_path):
    write(tmp_path / "varattn" / "df_dialogue_val.csv", "line,reply,movie_id\nhi,hello,m1\nbye,ciao,m2\n")
    split = load_split(tmp_path, "dialogue", "val")
    assert (split.sources, split.targets) == (["hi", "bye"], ["hello", "ciao"])
    assert len(load_split(tmp_path, "dialogue", "val", max_examples=1)) == 1


def test_unknown_task_and_split_list_valid_values(tmp_path):
    with pytest.raises(ValueError, match="valid tasks: qgen, dialogue, custom"):
        load_split(tmp_path, "mt", "val")
    with pytest.raises(ValueError, match="valid splits: train, val, test"):
        load_split(tmp_path, "qgen", "dev")


def test_data_dir_flag_beats_environment(tmp_path, monkeypatch):
    flag_dir, env_dir = tmp_path / "flag", tmp_path / "env"
    flag_dir.mkdir()
    env_dir.mkdir()
    monkeypatch.setenv(corpora.DATA_DIR_ENV, str(env_dir))
    assert resolve_data_dir(str(flag_dir)) == flag_dir.resolve()
    assert resolve_data_dir(None) == env_dir.resolve()


def test_data_dir_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(corpora.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"missing \(from VARATTN_DATA_DIR\) does not exist"):
        resolve_data_dir()


def test_data_dir_default_is_first_existing_candidate(tmp_path, monkeypatch):
    monkeypatch.delenv(corpora.DATA_DIR_ENV, raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    second.mkdir()
    monkeypatch.setattr(corpora, "default_data_dir_candidates", lambda: [first, second])
    assert resolve_data_dir() == second
    first.mkdir()
    assert resolve_data_dir() == first
    monkeypatch.setattr(corpora, "default_data_dir_candidates", lambda: [tmp_path / "x"])
    with pytest.raises(DataError, match="No data directory found"):
        resolve_data_dir()


def test_default_candidates_are_data_then_shared_data(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    candidates = corpora.default_data_dir_candidates()
    assert candidates[:2] == [(tmp_path / "data").resolve(), (tmp_path / "../shared/data").resolve()]


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffanswer,question\nthe cat,who ?\n".encode("utf-8"))
    assert read_pairs(path, "answer", "question") == (["the cat"], ["who ?"])


def test_utf16_a_nul_byte_and_a_tsv_row_with_an_extra_tab_are_told_their_own_fix(tmp_path):
    utf16 = write(tmp_path / "u.csv", "answer,question\na,q\n".encode("utf-16"))
    with pytest.raises(DataError, match=r"u.csv is UTF-16 .* `iconv -f utf-16 -t utf-8 FILE > FILE.utf8`"):
        read_pairs(utf16, "answer", "question")
    nul = write(tmp_path / "n.csv", b"answer,question\na,q\nb\x00c,q2\n")
    with pytest.raises(DataError, match=r"n.csv, line 3: a NUL byte"):
        read_pairs(nul, "answer", "question")
    tsv = write(tmp_path / "t.tsv", "answer\tquestion\na\tb\tc\n")
    with pytest.raises(DataError, match=r"t.tsv, line 2: malformed row with 3 field\(s\).*Remove the extra tab\(s\)") as raised:
        read_pairs(tsv, "answer", "question", delimiter="\t")
    assert "quote that row" not in str(raised.value)
    csv_file = write(tmp_path / "c.csv", "answer,question\na,b,c\n")
    with pytest.raises(DataError, match=r"quote a cell that holds a comma"):
        read_pairs(csv_file, "answer", "question")


def test_a_tiny_checkpoint_is_not_said_to_need_0_mb():
    from tf_varattn.training.loop import _megabytes

    assert (_megabytes(0.16), _megabytes(0.004), _megabytes(153.7)) == ("0.16", "0.00", "154")
