"""The МИС's refusals (Success=false, ErrorList/IdError) and what a patient is told about them."""

from __future__ import annotations

# IdError → a sentence a patient understands. The МИС's own ErrorDescription is for operators.
PATIENT_TEXT: dict[int, str] = {
    1: "Сервис записи сейчас недоступен. Попробуйте позже.",
    4: "Не хватает сведений для записи. Проверьте введённые данные.",
    20: "Пациент с такими данными не найден в медицинской организации. Проверьте ФИО, дату рождения и СНИЛС.",
    21: "Найдено несколько пациентов с такими данными. Укажите СНИЛС, чтобы найти нужного.",
    22: "К врачу этой специальности записываются только пациенты другого пола.",
    24: "Запись невозможна: в медицинской организации у пациента указана дата смерти. "
        "Если это ошибка, обратитесь в регистратуру.",
    31: "К врачам этой специальности нельзя записаться через интернет. Запишитесь через регистратуру.",
    33: "Этот врач не принимает пациентов с таким профилем. Выберите другого врача.",
    34: "К врачу этой специальности нельзя записать пациента такого возраста.",
    35: "У пациента уже есть запись к врачу этой специальности. Отмените её, чтобы записаться снова.",
    36: "Этот врач не обслуживает участок, к которому прикреплён пациент. Выберите врача своего участка.",
    38: "Такого времени приёма нет в расписании. Выберите другое время.",
    39: "Это время уже занято. Выберите другое время.",
    75: "Запись не найдена или уже отменена.",
    99: "Медицинская организация не смогла выполнить запрос. Попробуйте позже.",
}


def patient_text(code: int) -> str:
    known = PATIENT_TEXT.get(code)
    if known is not None:
        return known
    return (f"Медицинская организация отказала в записи (код ошибки {code}). "
            "Попробуйте позже или обратитесь в регистратуру.")


class ScheduleRefused(Exception):
    """The МИС answered Success=false. ``message`` is for the patient; ``description`` is the МИС's
    own text (for operators; it is not logged, it may name the patient)."""

    def __init__(self, code: int, message: str, description: str | None = None) -> None:
        super().__init__(f"МИС refused (IdError {code})")
        self.code = code
        self.message = message
        self.description = description
