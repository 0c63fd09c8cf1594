"""Source chat row (OpenAI / ShareGPT / Alpaca) -> verl multi-turn SFT row."""

from data_preprocess.dedup import normalize_text
from data_preprocess.pipeline import BuiltRow, ConvertOptions, make_length_check
from data_preprocess.prompt import RL_INSTRUCTION
from data_preprocess.readers import SourceRecord
from data_preprocess.schema import make_sft_record, sft_schema
from data_preprocess.sft_families import FAMILIES, check_turn_order, detect_family, has_think_block

DEFAULT_SFT_DATA_SOURCE = "csfufu/Grammer_dataset"


class SFTRowBuilder:
    """Builds SFT rows; the schema family is detected once per input file."""

    name = "grammar_sft"

    def __init__(self, options: ConvertOptions):
        self.schema = sft_schema()
        self.data_source = options.data_source or DEFAULT_SFT_DATA_SOURCE
        self.append_instruction = options.append_instruction
        self.length_check = make_length_check(options)
        self.families: dict[str, str] = {}

    def family_for(self, record: SourceRecord) -> str:
        """Family of ``record.file``, detected from its first readable row (fails on unknown columns)."""
        if record.file not in self.families:
            self.families[record.file] = detect_family(record.data.keys(), record.file)
        return self.families[record.file]

    def _with_instruction(self, messages: list[dict]) -> list[dict]:
        for message in messages:
            if message["role"] == "user":
                if RL_INSTRUCTION not in message["content"]:
                    message["content"] = f"{message['content'].rstrip()} {RL_INSTRUCTION}"
                break
        return messages

    def build(self, record: SourceRecord) -> BuiltRow:
        family = self.family_for(record)
        messages = FAMILIES[family](record.data)
        check_turn_order(messages, {"openai": "messages", "sharegpt": "conversations"}.get(family, "instruction"))
        if self.append_instruction:
            messages = self._with_instruction(messages)
        if self.length_check is not None:
            self.length_check(messages, (), add_generation_prompt=False, field="messages")
        notes = [f"family_{family}"]
        if not has_think_block(messages):
            notes.append("no_think_block")
        key = "\x00".join(f"{m['role']}\x01{normalize_text(m['content'])}" for m in messages).encode()

        def make_record(index: int, split: str) -> dict:
            return make_sft_record(data_source=self.data_source, messages=messages, index=index, split=split)

        return BuiltRow(key, make_record, notes)
