"""Closed vocabularies of the domain; values are stable strings stored in the database."""

from __future__ import annotations

from enum import StrEnum


class EntityKind(StrEnum):
    """Every kind of profile that can act in, or be the target of, an interaction."""

    person = "person"
    startup = "startup"
    investor = "investor"
    mentor = "mentor"
    space = "space"
    practice_base = "practice_base"
    post = "post"


class PersonRole(StrEnum):
    founder = "founder"
    student = "student"
    industry_leader = "industry_leader"
    researcher = "researcher"
    investor_partner = "investor_partner"
    operator = "operator"


class AccountRole(StrEnum):
    """Who an API account acts as; SECURITY.md states what each may see and do."""

    admin = "admin"  # programme staff
    operator = "operator"  # of one or more spaces or practice bases
    investor = "investor"
    mentor = "mentor"
    founder = "founder"  # founders and young talent (students, researchers)
    enterprise = "enterprise"  # owner of R&D posts and practice bases


class CardTier(StrEnum):
    """The plan's City Partner card: A industry leader, B investor, C young talent."""

    A = "A"
    B = "B"
    C = "C"
    none = "none"


class Hukou(StrEnum):
    """Where a person's household registration (户口) is: what settling-in policies read."""

    wuhan = "wuhan"
    hubei = "hubei"  # elsewhere in Hubei province
    elsewhere = "elsewhere"  # another province
    overseas = "overseas"


class Degree(StrEnum):
    none = "none"
    associate = "associate"
    bachelor = "bachelor"
    master = "master"
    phd = "phd"
    postdoc = "postdoc"


class InvestorType(StrEnum):
    angel = "angel"
    vc = "vc"
    government_fund = "government_fund"
    corporate_vc = "corporate_vc"


class SpaceType(StrEnum):
    incubator = "incubator"
    maker_space = "maker_space"
    accelerator = "accelerator"
    university_base = "university_base"


class PostType(StrEnum):
    enterprise_rd = "enterprise_rd"
    postdoc_station = "postdoc_station"
    academician_workstation = "academician_workstation"


class MemberRole(StrEnum):
    founder = "founder"
    cofounder = "cofounder"
    member = "member"
    advisor = "advisor"


class InteractionKind(StrEnum):
    viewed = "viewed"
    saved = "saved"
    contacted = "contacted"
    meeting = "meeting"
    applied = "applied"
    invested = "invested"
    admitted = "admitted"
    mentored = "mentored"
    placed = "placed"
    declined = "declined"
    withdrawn = "withdrawn"
    # Applying for one of the plan's policies: the applicant is both ends, the policy is in the
    # note (the status trail is kept in policy_applications).
    policy_applied = "policy_applied"


# Outcomes that make the pair an existing relation (never recommended again).
REALISED_OUTCOMES: frozenset[InteractionKind] = frozenset(
    {InteractionKind.invested, InteractionKind.admitted, InteractionKind.mentored, InteractionKind.placed}
)
