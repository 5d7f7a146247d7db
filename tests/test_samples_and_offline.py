import hashlib
import os
import subprocess
import sys
from pathlib import Path

from docmill.samples import write_sample_corpus


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sample_corpus_is_deterministic_across_processes(tmp_path: Path) -> None:
    write_sample_corpus(tmp_path / "a")
    code = (
        "from pathlib import Path; from docmill.samples import write_sample_corpus; "
        f"write_sample_corpus(Path({str(tmp_path / 'b')!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_sample_corpus_covers_the_required_cases(sample_corpus: Path) -> None:
    digests = _digests(sample_corpus)
    suffixes = {Path(name).suffix for name in digests}
    assert {".pdf", ".docx", ".pptx", ".html", ".md", ".eml", ".csv", ".txt"} <= suffixes
    assert digests["handbook.pdf"] == digests["archive/handbook-copy.pdf"]
    assert (sample_corpus / "notes/near-empty.txt").stat().st_size < 10
    contacts = (sample_corpus / "hr/contacts.txt").read_text()
    assert "@example.com" in contacts and "555" in contacts
    assert b"Content-Disposition: attachment" in (sample_corpus / "mail/supplier-update.eml").read_bytes()


def test_spacy_model_loads_offline() -> None:
    """unstructured would download en_core_web_sm; the set-up installs it as a package instead."""
    code = "import spacy; nlp = spacy.load('en_core_web_sm'); print(len(list(nlp('One. Two.').sents)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "2"


def test_bundled_model_loads_with_hub_offline(model_folder: Path) -> None:
    from docmill.embedding.encoder import max_sequence_length, model_revision

    assert (model_folder / "model.safetensors").exists()
    assert max_sequence_length(model_folder) == 256
    assert model_revision(model_folder).startswith("53aa5117")
