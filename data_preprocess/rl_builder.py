"""Source row -> verl RL row (text or multimodal), with every per-row check."""

import hashlib
import os

from data_preprocess.dedup import normalize_text
from data_preprocess.image_entries import cell_to_bytes, image_cells
from data_preprocess.pipeline import BuiltRow, ConvertOptions, make_length_check
from data_preprocess.prompt import build_rl_prompt, count_placeholders
from data_preprocess.readers import SourceRecord
from data_preprocess.schema import make_rl_record, rl_schema
from data_preprocess.sources import RLSourceSpec
from data_preprocess.validation import (
    check_answer_length,
    check_image,
    check_placeholders,
    first_present,
    require_text,
)


class RLRowBuilder:
    """Builds RL rows for one registered source."""

    def __init__(self, spec: RLSourceSpec, options: ConvertOptions):
        self.spec = spec
        self.name = spec.name
        self.schema = rl_schema(with_images=spec.multimodal)
        self.data_source = options.data_source or spec.data_source
        self.image_root = options.image_root
        self.max_pixels = options.max_pixels
        self.max_answer_chars = options.max_answer_chars
        self.length_check = make_length_check(options)

    def _search_roots(self, file: str) -> list[str]:
        roots = [os.path.abspath(self.image_root)] if self.image_root else []
        file_folder = os.path.dirname(os.path.abspath(file))
        return roots if file_folder in roots else roots + [file_folder]

    def _images(self, record: SourceRecord) -> tuple[list[bytes], list[tuple[int, int]]]:
        field, cells = image_cells(record.data)
        roots = self._search_roots(record.file)
        images, sizes = [], []
        for index, cell in enumerate(cells):
            cell_field = f"{field}[{index}]"
            data, source = cell_to_bytes(cell, cell_field, roots)
            sizes.append(check_image(data, cell_field, self.max_pixels, source))
            images.append(data)
        return images, sizes

    def build(self, record: SourceRecord) -> BuiltRow:
        data = record.data
        question_field = first_present(data, self.spec.question_fields)
        question = require_text(data, question_field)
        answer = self.spec.extract_answer(data)
        check_answer_length(answer, "answer", self.max_answer_chars)
        images, sizes, notes = [], [], []
        if self.spec.multimodal:
            images, sizes = self._images(record)
            check_placeholders(question, len(images), question_field)
            if images and count_placeholders(question) == 0:
                notes.append("placeholders_added")
        elif count_placeholders(question):
            check_placeholders(question, 0, question_field)
        if self.length_check is not None:
            self.length_check(build_rl_prompt(question, len(images)), sizes, field=question_field)

        key = normalize_text(question).encode()
        for image in images:
            key += b"\x00" + hashlib.blake2b(image, digest_size=16).digest()

        def make_record(index: int, split: str) -> dict:
            return make_rl_record(
                data_source=self.data_source,
                question=question,
                answer=answer,
                index=index,
                split=split,
                images=images if self.spec.multimodal else None,
            )

        return BuiltRow(key, make_record, notes)
