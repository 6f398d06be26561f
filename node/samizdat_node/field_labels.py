"""Record field labels in Russian and English, in the order a record page shows them.

One table for every place a record is shown to a person (the CLI and the web gateway), following
the field list of memorial-data.md and the schema ``memorial.victim/1``.
"""

from __future__ import annotations

__all__ = ["FIELD_LABELS"]

# field -> (Russian, English)
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "surname": ("Фамилия", "Surname"), "name": ("Имя", "Given name"),
    "patronymic": ("Отчество", "Patronymic"), "sex": ("Пол", "Sex"),
    "birth": ("Дата рождения", "Born"),
    "birth_verbatim": ("Дата рождения (как в источнике)", "Born (as in the source)"),
    "age": ("Возраст", "Age"), "age_verbatim": ("Возраст (как в источнике)",
                                                "Age (as in the source)"),
    "birth_place": ("Место рождения", "Place of birth"),
    "birth_comment": ("О рождении", "About the birth"),
    "nation": ("Национальность", "Nationality"), "citizenship": ("Гражданство", "Citizenship"),
    "education": ("Образование", "Education"), "party": ("Партийность", "Party"),
    "occupation": ("Род занятий", "Occupation"),
    "live_place": ("Место проживания", "Place of residence"), "family": ("Семья", "Family"),
    "previous_repression": ("Предыдущие репрессии", "Earlier repression"),
    "arrest_date": ("Дата ареста", "Arrested"),
    "arrest_date_verbatim": ("Дата ареста (как в источнике)", "Arrested (as in the source)"),
    "arrest_organ": ("Арестовавший орган", "Arresting body"),
    "arrest_type": ("Вид ареста", "Kind of arrest"),
    "criminal_case": ("Дело", "Case"), "criminal_article": ("Статья", "Article"),
    "process_date": ("Дата приговора", "Sentenced"),
    "process_date_verbatim": ("Дата приговора (как в источнике)",
                              "Sentenced (as in the source)"),
    "judicial_organ": ("Осудивший орган", "Sentencing body"),
    "sentence": ("Приговор", "Sentence"), "executed": ("Расстрелян", "Executed"),
    "death_date": ("Дата смерти", "Died"),
    "death_date_verbatim": ("Дата смерти (как в источнике)", "Died (as in the source)"),
    "death_place": ("Место смерти", "Place of death"),
    "next_repression": ("Последующие репрессии", "Later repression"),
    "rehabilitation_date": ("Дата реабилитации", "Rehabilitated"),
    "rehabilitation_date_verbatim": ("Дата реабилитации (как в источнике)",
                                     "Rehabilitated (as in the source)"),
    "rehabilitation_organ": ("Реабилитировавший орган", "Rehabilitating body"),
    "rehabilitation_reason": ("Основание реабилитации", "Grounds for rehabilitation"),
    "all_name_variations": ("Варианты ФИО", "Name variants"),
    "fullname_variations": ("Варианты полного имени", "Full-name variants"),
    "surname_variations": ("Варианты фамилии", "Surname variants"),
    "name_variations": ("Варианты имени", "Given-name variants"),
    "patronymic_variations": ("Варианты отчества", "Patronymic variants"),
    "source": ("Источник", "Source"), "source_url": ("Ссылка на источник", "Source link"),
    "source_id": ("Номер в источнике", "Id in the source"),
    "synthetic": ("Синтетическая запись", "Synthetic record"),
}  # fmt: skip
