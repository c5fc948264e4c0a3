"""«Прикрепление онлайн» in the words of seed 002: application types, statuses, reply outcomes."""

from __future__ import annotations

from enum import StrEnum


class ApplicationType(StrEnum):
    CHOICE = "CHOICE"                 # заявление о выборе МО             (upstream order_type 1)
    DETACHMENT = "DETACHMENT"         # заявление об откреплении от МО     (order_type 2)
    CANCELLATION = "CANCELLATION"     # отмена заявления о выборе МО       (order_type 3)

    @property
    def label(self) -> str:
        return {"CHOICE": "Заявление о выборе МО", "DETACHMENT": "Заявление об откреплении от МО",
                "CANCELLATION": "Отмена заявления о выборе МО"}[self.value]

    @classmethod
    def from_order_type(cls, order_type: int) -> ApplicationType:
        return {1: cls.CHOICE, 2: cls.DETACHMENT, 3: cls.CANCELLATION}[order_type]


class AttachmentType(StrEnum):
    THERAPEUTIC = "THERAPEUTIC"
    GYNECOLOGICAL = "GYNECOLOGICAL"
    DENTAL = "DENTAL"
    PEDIATRIC = "PEDIATRIC"

    @property
    def label(self) -> str:
        return {"THERAPEUTIC": "Терапевтическое", "GYNECOLOGICAL": "Гинекологическое",
                "DENTAL": "Стоматологическое", "PEDIATRIC": "Педиатрическое"}[self.value]


# Statuses with their ЕПГУ codes (reference/egisz.md §1.2).
SENT, SERVICE_PROVIDED, REFUSED, ACCEPTED, CANCELLING, CANCELLED, CANCEL_ERROR = 21, 3, 4, 6, 9, 10, 11
STATUS_LABELS = {
    SENT: "Отправлено", SERVICE_PROVIDED: "Услуга оказана", REFUSED: "Отказано", ACCEPTED: "Принято",
    CANCELLING: "Отменяется", CANCELLED: "Отменено", CANCEL_ERROR: "Ошибка отмены",
}


class Outcome(StrEnum):
    """What the МИС answers; seed 002 §5."""

    SERVICE_PROVIDED = "SERVICE_PROVIDED"   # «Услуга оказана»
    REFUSED = "REFUSED"                     # «Отказано в предоставлении услуги»
    CANCEL_APPROVED = "CANCEL_APPROVED"     # «Отмена заявления одобрена»
    CANCEL_FAILED = "CANCEL_FAILED"         # «Ошибка отмены заявления»
    DETACHED = "DETACHED"                   # ответ на заявление об откреплении

    @property
    def label(self) -> str:
        return {"SERVICE_PROVIDED": "Услуга оказана", "REFUSED": "Отказано в предоставлении услуги",
                "CANCEL_APPROVED": "Отмена заявления одобрена", "CANCEL_FAILED": "Ошибка отмены заявления",
                "DETACHED": "Откреплён"}[self.value]

    @property
    def status(self) -> int:
        """The application's status once the upstream acknowledges this reply."""
        return {"SERVICE_PROVIDED": SERVICE_PROVIDED, "REFUSED": REFUSED, "CANCEL_APPROVED": CANCELLED,
                "CANCEL_FAILED": CANCEL_ERROR, "DETACHED": SERVICE_PROVIDED}[self.value]

    @property
    def upstream_status(self) -> str:
        return "rejected" if self in (Outcome.REFUSED, Outcome.CANCEL_FAILED) else "completed"


ALLOWED_OUTCOMES = {
    ApplicationType.CHOICE: (Outcome.SERVICE_PROVIDED, Outcome.REFUSED),
    ApplicationType.CANCELLATION: (Outcome.CANCEL_APPROVED, Outcome.CANCEL_FAILED),
    ApplicationType.DETACHMENT: (Outcome.DETACHED,),
}
# The applicant's relationship: HL7 v3 RoleCode as SAMSON's client labels them (LenchikTs/client,
# Registry/AttachOnlineService.py, relationshipDict) ⇄ the МИС's words in the contract.
RELATIONS = {"MTH": "Мать", "FTH": "Отец", "PRNFOST": "Опекун", "ADOPTP": "Попечитель"}
RELATION_CODES = {"MOTHER": "MTH", "FATHER": "FTH", "GUARDIAN": "PRNFOST", "TRUSTEE": "ADOPTP"}
# Refusal reasons (SAMSON's soc_AttachMO_ReasonReject): the reference is regional and not public; the one
# code SAMSON's client itself sends is 1, when the citizen withdrew the application.
REFUSAL_REASONS = {1: "Гражданин отозвал своё заявление"}
