"""The extractive chat answerer and summariser."""

from __future__ import annotations

from uuid import UUID

from stratum.domain.agent.answer import answer, summarise
from stratum.domain.agent.context import AgentContext, ContextChunk
from stratum.domain.agent.schema import CHAT_SCHEMA, SUMMARY_SCHEMA
from tests.unit.agent.schema_check import errors
from tests.unit.agent.workspace import CHECKOUT, CONTEXT, WORKSPACE


def ask(message: str, context: AgentContext = CONTEXT) -> dict[str, object]:
    result = answer(message, context)
    assert errors(result, CHAT_SCHEMA) == []
    return result


def test_an_answer_quotes_the_best_matching_sentence_followed_by_its_citation() -> None:
    result = ask("How many times are failed payments retried?")
    assert result["answered"] is True
    assert result["answer"] == "The system SHALL retry failed payments up to 3 times. [1]"
    assert result["citations"] == [11]
    assert result["suggested_command"] is None


def test_words_are_matched_by_their_stem() -> None:
    result = ask("when do sessions end?")
    assert result["citations"] == [12]
    assert "30 minutes" in str(result["answer"])


def test_a_requirement_uid_in_the_question_points_at_that_requirements_chunk() -> None:
    result = ask("What does req-5 say?")
    assert result["citations"] == [13]
    assert str(result["answer"]).startswith("A visitor buys without creating an account. [1]")


def test_an_answer_uses_at_most_three_sentences_citing_chunks_in_order_of_first_use() -> None:
    chunks = tuple(
        ContextChunk(
            n, "spec", CHECKOUT, None, "Exports", f"Exports run nightly in region {n}. Unrelated text.", 0.5
        )
        for n in (7, 3, 9, 5)
    )
    result = ask("when do exports run?", AgentContext(WORKSPACE, chunks=chunks))
    assert result["citations"] == [7, 3, 9]
    assert str(result["answer"]).count("[") == 3
    assert "[1]" in str(result["answer"]) and "[3]" in str(result["answer"])


def test_a_question_the_workspace_does_not_cover_is_not_answered() -> None:
    result = ask("What is the deployment process for Kubernetes?")
    assert result["answered"] is False
    assert result["citations"] == []
    assert str(result["answer"]).startswith("The workspace does not say anything about deployment process")


def test_a_workspace_without_chunks_does_not_say() -> None:
    result = ask("How are payments retried?", AgentContext(WORKSPACE))
    assert (result["answered"], result["citations"]) == (False, [])


def test_an_instruction_is_not_carried_out_but_offered_as_a_command() -> None:
    result = ask("create a task for REQ-004")
    assert result["answered"] is False
    assert result["suggested_command"] == "create a task for REQ-004"
    assert "Chat does not make changes" in str(result["answer"])
    assert "Create task \u201cSort by price\u201d" in str(result["answer"])


def test_instructions_inside_chunks_are_only_quoted() -> None:
    result = ask("what does the price filter use?")
    assert result["suggested_command"] is None
    assert result["citations"] == [14]


def test_the_answer_is_deterministic() -> None:
    assert ask("how do guests check out?") == ask("how do guests check out?")


def test_a_long_text_is_summarised_by_its_lead_sentences() -> None:
    text = (
        "Checkout converts a cart into an order. Payments are retried. Guests need no account. Extra detail."
    )
    result = summarise(text, CONTEXT)
    assert errors(result, SUMMARY_SCHEMA) == []
    assert result == {
        "summary": "Checkout converts a cart into an order. Payments are retried. Guests need no account."
    }


def test_a_short_text_is_summarised_from_the_first_sentence_of_each_chunk() -> None:
    result = summarise("summarise the checkout work", CONTEXT)
    assert result["summary"].startswith(
        "The system SHALL retry failed payments up to 3 times. The system MUST end a session after 30 minutes"
    )


def test_nothing_to_summarise_says_so() -> None:
    assert summarise("", AgentContext(WORKSPACE)) == {"summary": "Nothing to summarise."}


def test_chunks_of_any_entity_are_cited_by_their_id() -> None:
    chunk = ContextChunk(42, "task", UUID(int=1), None, "Exports", "Exports are zipped.", 0.1)
    assert ask("are exports zipped?", AgentContext(WORKSPACE, chunks=(chunk,)))["citations"] == [42]


def test_a_question_about_a_named_spec_is_answered_by_its_requirements_with_its_chunks_cited() -> None:
    from uuid import uuid4

    from stratum.domain.agent.answer import answer
    from stratum.domain.agent.context import AgentContext, ContextChunk, RequirementRef, SpecRef

    spec = SpecRef(uuid4(), "Checkout", "approved", 3, (
        RequirementRef("REQ-001", "Guest checkout", "The system SHALL let a visitor pay without an account."),
        RequirementRef("REQ-002", "Saved cards", "The system SHALL remember a card when asked."),
    ), body="# Checkout")
    chunk = ContextChunk(7, "spec", spec.id, "REQ-001", "Checkout > Guest checkout", "Pay as guest.", 0.5)
    other = ContextChunk(8, "spec", uuid4(), None, "Search", "Results are ranked.", 0.4)
    context = AgentContext(uuid4(), specs=(spec,), involved=(spec.id,), chunks=(other, chunk))
    reply = answer("What does the checkout spec require?", context)
    assert reply["answered"] is True and reply["citations"] == [7]
    assert "REQ-001 Guest checkout" in reply["answer"] and "REQ-002 Saved cards" in reply["answer"]
    # Not named: the workspace does not say.
    assert answer("What does the billing spec require?", AgentContext(uuid4(), chunks=(other,)))[
        "answered"] is False
