"""The closed vocabularies a client may write, so nobody has to guess a code or a synonym."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.security import EVERYONE, Authenticated, Authorized
from models.vocabularies import VOCABULARIES

router = APIRouter(
    prefix="/v1/vocabularies",
    tags=["vocabularies"],
    dependencies=[Authenticated, Depends(Authorized(*EVERYONE))],
)


class TermPublic(BaseModel):
    code: str = Field(description="What is stored and returned.")
    zh: str
    en: str
    synonyms: list[str] = Field(description="Also accepted on input, stored as the code.")
    parent: str | None = Field(default=None, description="Industries only: the parent's code.")


class VocabularyPublic(BaseModel):
    name: str
    terms: list[TermPublic]


class VocabularySummary(BaseModel):
    name: str
    terms: int


@router.get("", response_model=list[VocabularySummary], summary="Every vocabulary and its size")
async def list_vocabularies() -> Any:
    return [{"name": name, "terms": len(terms)} for name, terms in VOCABULARIES.items()]


@router.get("/{name}", response_model=VocabularyPublic, summary="One vocabulary: codes, labels, synonyms")
async def get_vocabulary(
    name: Annotated[str, Path(description="industries, stages, areas, degrees, …")],
) -> Any:
    if name not in VOCABULARIES:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            f"no vocabulary '{name}'; there are {', '.join(VOCABULARIES)}",
            field="path.name",
        )
    return {"name": name, "terms": [vars(term) for term in VOCABULARIES[name]]}
