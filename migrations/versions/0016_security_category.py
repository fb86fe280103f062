"""a security category (police and security operations, cordons, checkpoints, exclusion zones), and the
new default rules for the organisations that already have their own

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00

The four check constraints that list the categories gain "security". Each organisation's rules
were copied from the defaults once, on first use, so the defaults' changes are made here to the
organisations that have rules: a row still exactly as a removed default is deleted, a row still
exactly as a changed default is changed in place (staying enabled or disabled), and a new default
is added unless the organisation has a rule of that category, pattern and field already. Rules a
coordinator added are left alone. The lists are this revision's own, not read from the code, which
will change again.

Downgrading undoes the rules' changes, then moves security items and advisories to "other", clears
a feed's security default and deletes the security rules coordinators added.

Known limit of the downgrade: it deletes every rule exactly equal to one of ADDED (category, pattern,
field, weight, regex), so a coordinator's own rule that is the same as an added default (typed before
this revision, when the upgrade then added nothing for it, or after) goes too. classification_rule holds
no mark of who made a row (no created_at, no default flag), and the upgrade's inserts leave none, so
the migration cannot tell its rows from a coordinator's; a column only for a downgrade's sake is not
worth a schema change. Such a rule is a default again at the next upgrade (the defaults are re-added),
only its "enabled" setting is lost. Take a backup before downgrading past 0016.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD_CATEGORIES = (
    "protest",
    "civil_unrest",
    "crime",
    "terrorism",
    "weather",
    "natural_hazard",
    "transport",
    "health",
    "other",
)
NEW_CATEGORIES = (
    "protest",
    "civil_unrest",
    "crime",
    "terrorism",
    "security",
    "weather",
    "natural_hazard",
    "transport",
    "health",
    "other",
)
# (table, constraint, column, whether NULL is allowed)
CATEGORY_CHECKS = (
    ("feed", "ck_feed_category_known", "default_category", True),
    ("feed_item", "ck_feed_item_category_known", "category", False),
    ("classification_rule", "ck_classification_rule_category_known", "category", False),
    ("advisory", "ck_advisory_category_known", "category", False),
)

# Default rules as (category, pattern, field, weight, is_regex): removed, changed (old, new), added.
REMOVED = [
    ("protest", "manifestante", "any", 3, False),
    ("terrorism", "suspicious package", "any", 3, False),
    ("terrorism", "suspicious device", "any", 3, False),
]
CHANGED = [
    (("transport", "closure", "any", 2, False), ("transport", "closure", "any", 1, False)),
    (("transport", "closed", "any", 2, False), ("transport", "closed", "any", 1, False)),
    (("crime", "police operation", "any", 2, False), ("security", "police operation", "any", 5, False)),
    (("terrorism", "security alert", "any", 2, False), ("security", "security alert", "any", 5, False)),
    (("terrorism", "cordon", "any", 2, False), ("security", "cordon", "any", 3, False)),
]
ADDED = [
    ("protest", "\\bmanifestant[ei]\\b", "any", 3, True),
    ("protest", "vigil", "any", 3, False),
    ("protest", "rassemblement", "any", 3, False),
    ("protest", "Mahnwache", "any", 3, False),
    ("protest", "Demonstrant", "any", 3, False),
    ("protest", "Demonstranten", "any", 3, False),
    ("protest", "protesto", "any", 3, False),
    ("protest", "manifestazione", "any", 3, False),
    ("protest", "corteo", "any", 3, False),
    ("protest", "demonstratie", "any", 3, False),
    ("protest", "betoging", "any", 3, False),
    ("protest", "betoger", "any", 3, False),
    ("protest", "staking", "any", 3, False),
    ("protest", "Rassemblement national", "any", -3, False),
    (
        "protest",
        "\\b(?:crowds?|gather\\w*|hundreds|thousands|activists|supporters)\\b[^.\\n]{0,40}\\b(?:outside|in front "
        "of)\\b[^.\\n]{0,30}\\b(?:ministr|embass|consulate|parliament|city hall|town hall|palace|court)",
        "any",
        3,
        True,
    ),
    ("protest", "\\bDemos?\\s+(?:gegen|für|vor|am|zum|zur)\\b", "any", 3, True),
    ("protest", "\\bmarche\\s+(?:blanche|pour|contre)\\b", "any", 3, True),
    (
        "protest",
        "\\bconcentra(?:ci[oó]n|ciones|ção|ções)\\s+(?:en\\s+|em\\s+)?(?:frente|ante|delante|diante|contra)\\b",
        "any",
        3,
        True,
    ),
    ("protest", "\\bmarcha\\s+(?:por|pela|pelo|contra|hacia|para)\\b", "any", 3, True),
    ("protest", "\\bpresidi[oa]?\\s+(?:davanti|sotto|contro|di\\s+protesta)\\b", "any", 3, True),
    ("protest", "\\bmarcia\\s+(?:per|contro|su)\\b", "any", 3, True),
    ("protest", "\\bmars\\s+(?:tegen|voor)\\b", "any", 3, True),
    ("protest", "general strike", "any", 6, False),
    ("protest", "grève générale", "any", 6, False),
    ("protest", "Generalstreik", "any", 6, False),
    ("protest", "huelga general", "any", 6, False),
    ("protest", "sciopero generale", "any", 6, False),
    ("protest", "greve geral", "any", 6, False),
    ("protest", "algemene staking", "any", 6, False),
    ("civil_unrest", "affrontements", "any", 4, False),
    ("civil_unrest", "heurts", "any", 4, False),
    ("civil_unrest", "couvre-feu", "any", 4, False),
    ("civil_unrest", "Krawalle", "any", 4, False),
    ("civil_unrest", "Ausgangssperre", "any", 4, False),
    ("civil_unrest", "toque de queda", "any", 4, False),
    ("civil_unrest", "scontri", "any", 4, False),
    ("civil_unrest", "disordini", "any", 4, False),
    ("civil_unrest", "tumulti", "any", 4, False),
    ("civil_unrest", "saccheggi", "any", 4, False),
    ("civil_unrest", "coprifuoco", "any", 4, False),
    ("civil_unrest", "confrontos", "any", 4, False),
    ("civil_unrest", "distúrbios", "any", 4, False),
    ("civil_unrest", "tumultos", "any", 4, False),
    ("civil_unrest", "toque de recolher", "any", 4, False),
    ("civil_unrest", "rellen", "any", 4, False),
    ("civil_unrest", "ongeregeldheden", "any", 4, False),
    ("civil_unrest", "avondklok", "any", 4, False),
    ("crime", "gunman", "any", 3, False),
    ("crime", "coups de feu", "any", 3, False),
    ("crime", "Schüsse", "any", 3, False),
    ("crime", "Überfall", "any", 3, False),
    ("crime", "Entführung", "any", 3, False),
    ("crime", "enlèvement", "any", 3, False),
    ("crime", "apuñalamiento", "any", 3, False),
    ("crime", "atraco", "any", 3, False),
    ("crime", "sparatoria", "any", 3, False),
    ("crime", "accoltellamento", "any", 3, False),
    ("crime", "rapina", "any", 3, False),
    ("crime", "sequestro", "any", 3, False),
    ("crime", "tiroteio", "any", 3, False),
    ("crime", "esfaqueamento", "any", 3, False),
    ("crime", "schietpartij", "any", 3, False),
    ("crime", "steekpartij", "any", 3, False),
    ("crime", "overval", "any", 3, False),
    ("crime", "ontvoering", "any", 3, False),
    ("terrorism", "terror attack", "any", 5, False),
    ("terrorism", "attentato", "any", 5, False),
    ("terrorism", "aanslag", "any", 5, False),
    ("terrorism", "\\bterror(?:ist|ism|anschlag|gefahr|verdacht)\\w*", "any", 5, True),
    ("terrorism", "controlled explosion", "any", -3, False),
    ("terrorism", "explosión controlada", "any", -2, False),
    ("terrorism", "bomb disposal", "any", -5, False),
    ("terrorism", "bomb squad", "any", -5, False),
    ("security", "security operation", "any", 5, False),
    ("security", "checkpoint", "any", 5, False),
    ("security", "roadblock", "any", 5, False),
    ("security", "road block", "any", 5, False),
    ("security", "exclusion zone", "any", 5, False),
    ("security", "security zone", "any", 5, False),
    ("security", "ring of steel", "any", 5, False),
    ("security", "motorcade", "any", 5, False),
    ("security", "controlled explosion", "any", 5, False),
    ("security", "bomb disposal", "any", 5, False),
    ("security", "bomb squad", "any", 5, False),
    ("security", "unattended bag", "any", 5, False),
    ("security", "\\bsuspicious\\s+(?:package|device|item|object|vehicle|bag|parcel)s?\\b", "any", 5, True),
    ("security", "opération de police", "any", 5, False),
    ("security", "opération policière", "any", 5, False),
    ("security", "déminage", "any", 5, False),
    ("security", "démineurs", "any", 5, False),
    ("security", "levée de doute", "any", 5, False),
    ("security", "\\b(?:colis|objet|bagage|sac|véhicule|paquet)s?\\s+(?:suspects?|abandonnés?)\\b", "any", 5, True),
    ("security", "\\bzones?\\s+(?:d['’]\\s?exclusion|de\\s+sécurité|interdite)s?\\b", "any", 5, True),
    (
        "security",
        "\\b(?:points?\\s+de\\s+contrôle|barrages?\\s+(?:de\\s+police|policiers?|filtrants?))\\b",
        "any",
        5,
        True,
    ),
    ("security", "Polizeieinsatz", "any", 5, False),
    ("security", "Sperrzone", "any", 5, False),
    ("security", "Sperrgebiet", "any", 5, False),
    ("security", "Sicherheitszone", "any", 5, False),
    ("security", "Sicherheitsbereich", "any", 5, False),
    ("security", "Kampfmittelräumdienst", "any", 5, False),
    ("security", "Bombenentschärfung", "any", 5, False),
    ("security", "Fliegerbombe", "any", 5, False),
    ("security", "kontrollierte Sprengung", "any", 5, False),
    ("security", "\\b(?:Polizeikontroll\\w*|Kontroll(?:punkt|stelle|posten)\\w*)", "any", 5, True),
    (
        "security",
        "\\bverdächtige[nrs]?\\s+(?:Gegenst[aä]nd\\w*|Koffer|Paket\\w*|Rucksack|Fahrzeug\\w*|Objekt\\w*)",
        "any",
        5,
        True,
    ),
    ("security", "zona de exclusión", "any", 5, False),
    ("security", "TEDAX", "any", 5, False),
    ("security", "explosión controlada", "any", 5, False),
    ("security", "\\b(?:operaci[oó]n|operativo|dispositivo)\\s+(?:policial|de\\s+seguridad)\\b", "any", 5, True),
    ("security", "\\bcontrol(?:es)?\\s+policiales?\\b", "any", 5, True),
    ("security", "\\b(?:paquete|objeto|mochila|maleta|bolsa|veh[ií]culo)s?\\s+sospechos[oa]s?\\b", "any", 5, True),
    ("security", "operazione di polizia", "any", 5, False),
    ("security", "zona di esclusione", "any", 5, False),
    ("security", "artificieri", "any", 5, False),
    ("security", "brillamento controllato", "any", 5, False),
    ("security", "\\bpost[oi]\\s+di\\s+blocco\\b", "any", 5, True),
    ("security", "\\b(?:pacc(?:o|hi)|oggett[oi]|borsa|valigia|zaino|auto)\\s+sospett[oaie]\\b", "any", 5, True),
    ("security", "operação policial", "any", 5, False),
    ("security", "zona de exclusão", "any", 5, False),
    ("security", "operação stop", "any", 5, False),
    ("security", "explosão controlada", "any", 5, False),
    ("security", "\\bpostos?\\s+de\\s+control[eo]\\b", "any", 5, True),
    ("security", "\\b(?:pacote|obje[c]?to|mala|mochila|saco|viatura|veículo)s?\\s+suspeit[oa]s?\\b", "any", 5, True),
    ("security", "politieactie", "any", 5, False),
    ("security", "controlepost", "any", 5, False),
    ("security", "veiligheidszone", "any", 5, False),
    ("security", "gecontroleerde explosie", "any", 5, False),
    ("security", "EOD", "any", 5, False),
    ("security", "\\bverdachte?\\s+(?:pakket\\w*|object\\w*|tas|koffer|voertuig|auto|situatie)\\b", "any", 5, True),
    ("security", "cordoned", "any", 3, False),
    ("security", "sealed off", "any", 3, False),
    ("security", "security perimeter", "any", 3, False),
    ("security", "périmètre de sécurité", "any", 3, False),
    ("security", "bouclage", "any", 3, False),
    ("security", "bouclé", "any", 3, False),
    ("security", "Absperrung", "any", 3, False),
    ("security", "abgesperrt", "any", 3, False),
    ("security", "cordón", "any", 3, False),
    ("security", "perímetro de seguridad", "any", 3, False),
    ("security", "cordone", "any", 3, False),
    ("security", "perimetro di sicurezza", "any", 3, False),
    ("security", "cordão", "any", 3, False),
    ("security", "perímetro de segurança", "any", 3, False),
    ("security", "afzetting", "any", 3, False),
    ("security", "afgezet", "any", 3, False),
    ("security", "\\bacordonad[oa]s?\\b", "any", 3, True),
    ("security", "\\btransenn\\w*", "any", 3, True),
    ("security", "\\b(?:área|zona|rua)s?\\s+isolad[ao]s?\\b", "any", 3, True),
    (
        "security",
        "\\bzet(?:ten)?\\s+(?:het\\s+|de\\s+)?(?:gebied|omgeving|straat|straten|wijk|centrum)\\s+af\\b",
        "any",
        3,
        True,
    ),
    ("security", "evacuated", "any", 2, False),
    ("security", "evacuation", "any", 2, False),
    ("security", "evakuiert", "any", 2, False),
    ("security", "Evakuierung", "any", 2, False),
    ("security", "geräumt", "any", 2, False),
    ("security", "ontruimd", "any", 2, False),
    ("weather", "canicule", "any", 4, False),
    ("weather", "Unwetterwarnung", "any", 4, False),
    ("weather", "Gewitter", "any", 4, False),
    ("weather", "Starkregen", "any", 4, False),
    ("weather", "Hitzewelle", "any", 4, False),
    ("weather", "ola de calor", "any", 4, False),
    ("weather", "alluvioni", "any", 4, False),
    ("weather", "nubifragio", "any", 4, False),
    ("weather", "tempesta", "any", 4, False),
    ("weather", "ondata di calore", "any", 4, False),
    ("weather", "inundação", "any", 4, False),
    ("weather", "inundações", "any", 4, False),
    ("weather", "tempestade", "any", 4, False),
    ("weather", "cheias", "any", 4, False),
    ("weather", "onda de calor", "any", 4, False),
    ("weather", "overstroming", "any", 4, False),
    ("weather", "wateroverlast", "any", 4, False),
    ("weather", "onweer", "any", 4, False),
    ("weather", "hittegolf", "any", 4, False),
    ("natural_hazard", "feu de forêt", "any", 5, False),
    ("natural_hazard", "feux de forêt", "any", 5, False),
    ("natural_hazard", "glissement de terrain", "any", 5, False),
    ("natural_hazard", "Erdrutsch", "any", 5, False),
    ("natural_hazard", "deslizamiento", "any", 5, False),
    ("natural_hazard", "incendio boschivo", "any", 5, False),
    ("natural_hazard", "incendi boschivi", "any", 5, False),
    ("natural_hazard", "frana", "any", 5, False),
    ("natural_hazard", "incêndio florestal", "any", 5, False),
    ("natural_hazard", "deslizamento", "any", 5, False),
    ("natural_hazard", "aardbeving", "any", 5, False),
    ("natural_hazard", "bosbrand", "any", 5, False),
    ("natural_hazard", "aardverschuiving", "any", 5, False),
    ("natural_hazard", "incendie", "any", 2, False),
    ("natural_hazard", "incendio", "any", 2, False),
    ("natural_hazard", "incêndio", "any", 2, False),
    ("transport", "roads closed", "any", 4, False),
    ("transport", "vuelo", "any", 4, False),
    ("transport", "voli", "any", 4, False),
    ("transport", "voo", "any", 4, False),
    ("transport", "vluchten", "any", 4, False),
    ("transport", "Flüge", "any", 4, False),
    ("transport", "aeroporto", "any", 4, False),
    ("transport", "luchthaven", "any", 4, False),
    ("transport", "trafic", "any", 3, False),
    ("transport", "Verkehr", "any", 3, False),
    ("transport", "Zug", "any", 3, False),
    ("transport", "Züge", "any", 3, False),
    ("transport", "tren", "any", 3, False),
    ("transport", "treni", "any", 3, False),
    ("transport", "traffico", "any", 3, False),
    ("transport", "tráfico", "any", 3, False),
    ("transport", "comboio", "any", 3, False),
    ("transport", "trânsito", "any", 3, False),
    ("transport", "autocarro", "any", 3, False),
    ("transport", "trein", "any", 3, False),
    ("transport", "treinen", "any", 3, False),
    ("transport", "verkeer", "any", 3, False),
    ("transport", "autobus", "any", 3, False),
    ("transport", "tram", "any", 3, False),
    ("transport", "annulliert", "any", 2, False),
    ("transport", "ausgefallen", "any", 2, False),
    ("transport", "cancelado", "any", 2, False),
    ("transport", "cancellati", "any", 2, False),
    ("transport", "soppressi", "any", 2, False),
    ("transport", "geannuleerd", "any", 2, False),
    ("transport", "\\bannul(?:é|ée|és|ées)\\b", "any", 2, True),
    (
        "transport",
        "\\b(?:Straßen|Strassen|Voll|Teil|Brücken|Tunnel|Autobahn|Strecken)sperrung(?:en)?\\b",
        "any",
        4,
        True,
    ),
    (
        "transport",
        "\\b(?:rail|train|tube|metro|subway|bus|transport|transit|airport|ferry|air traffic "
        "control(?:lers)?)\\s+(?:workers'?\\s+)?strikes?\\b",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\bgrèves?\\s+(?:générale\\s+)?(?:à\\s+la\\s+|de\\s+la\\s+|des\\s+|du\\s+)?(?:transports?|trains?|SNCF|RATP|métro|cheminots|contrôleurs\\s+aériens|aiguilleurs)\\b",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\b(?:Bahn|Lokführer|GDL|Verkehrs|Nahverkehrs|ÖPNV|Fluglotsen|Flughafen)-?streiks?\\b|\\bStreiks?\\s+(?:bei\\s+der\\s+Bahn|im\\s+(?:Nah|Bahn)verkehr)",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\bhuelgas?\\s+(?:general\\s+)?(?:de|del|en)\\s+(?:(?:el|la|los)\\s+)?(?:transportes?|metro|Renfe|autobuses|trenes|taxis?|controladores)\\b",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\bscioper[oi]\\s+(?:generale\\s+)?(?:nazionale\\s+)?(?:de[il]|degli|nei|del)\\s+(?:trasport[oi]|treni|mezzi|ferrovie|aere[oi]|autobus|tram|metro)\\b",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\bgreves?\\s+(?:geral\\s+)?(?:dos|do|da|nos|no|na|de|nas)\\s+(?:transportes?|comboios|metro|metrô|CP|autocarros|ônibus|trens|aeroportos?)\\b",
        "any",
        7,
        True,
    ),
    (
        "transport",
        "\\b(?:trein|ov|bus|tram|metro|spoor)-?stakings?\\b|\\bstakings?\\s+(?:bij\\s+de\\s+NS|in\\s+het\\s+(?:openbaar\\s+)?vervoer|op\\s+Schiphol)",
        "any",
        7,
        True,
    ),
    ("transport", "general strike", "any", 3, False),
    ("transport", "grève générale", "any", 3, False),
    ("transport", "Generalstreik", "any", 3, False),
    ("transport", "huelga general", "any", 3, False),
    ("transport", "sciopero generale", "any", 3, False),
    ("transport", "greve geral", "any", 3, False),
    ("transport", "algemene staking", "any", 3, False),
    ("health", "epidemia", "any", 5, False),
    ("health", "Epidemie", "any", 5, False),
    ("health", "morbillo", "any", 5, False),
    ("health", "sarampión", "any", 5, False),
    ("health", "sarampo", "any", 5, False),
    ("health", "mazelen", "any", 5, False),
    ("health", "Masern", "any", 5, False),
    ("health", "rougeole", "any", 5, False),
    ("health", "colera", "any", 5, False),
    ("health", "cólera", "any", 5, False),
    ("health", "choléra", "any", 5, False),
    ("security", "security", "categories", 3, False),
    ("security", "police", "categories", 3, False),
]


rules = sa.table(
    "classification_rule",
    sa.column("id", sa.Integer),
    sa.column("organisation_id", sa.Integer),
    sa.column("category", sa.String),
    sa.column("pattern", sa.String),
    sa.column("field", sa.String),
    sa.column("weight", sa.Integer),
    sa.column("is_regex", sa.Boolean),
    sa.column("enabled", sa.Boolean),
)


def _check(column: str, nullable: bool, categories: tuple) -> str:
    listed = f"{column} IN ({', '.join(repr(c) for c in categories)})"
    return f"{column} IS NULL OR {listed}" if nullable else listed


def _set_categories(categories: tuple) -> None:
    for table, name, column, nullable in CATEGORY_CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_="check")
            batch_op.create_check_constraint(op.f(name), _check(column, nullable, categories))


def _exactly(rule: tuple):
    category, pattern, field, weight, is_regex = rule
    return sa.and_(
        rules.c.category == category,
        rules.c.pattern == pattern,
        rules.c.field == field,
        rules.c.weight == weight,
        rules.c.is_regex == is_regex,
    )


def _change_rules(removed: list, changed: list, added: list) -> None:
    """Make the defaults' changes to every organisation that has rules of its own."""
    connection = op.get_bind()
    organisations = connection.scalars(sa.select(rules.c.organisation_id).distinct()).all()
    for rule in removed:
        connection.execute(rules.delete().where(_exactly(rule)))
    for old, new in changed:
        category, pattern, field, weight, is_regex = new
        values = {"category": category, "pattern": pattern, "field": field, "weight": weight, "is_regex": is_regex}
        connection.execute(rules.update().where(_exactly(old)).values(**values))
    for organisation_id in organisations:
        have = {
            tuple(row)
            for row in connection.execute(
                sa.select(rules.c.category, rules.c.pattern, rules.c.field).where(
                    rules.c.organisation_id == organisation_id
                )
            )
        }
        rows = [
            {
                "organisation_id": organisation_id,
                "category": category,
                "pattern": pattern,
                "field": field,
                "weight": weight,
                "is_regex": is_regex,
                "enabled": True,
            }
            for category, pattern, field, weight, is_regex in added
            if (category, pattern, field) not in have
        ]
        if rows:
            connection.execute(rules.insert(), rows)


def upgrade():
    _set_categories(NEW_CATEGORIES)
    _change_rules(REMOVED, CHANGED, ADDED)


def downgrade():
    _change_rules(ADDED, [(new, old) for old, new in CHANGED], REMOVED)
    connection = op.get_bind()
    connection.execute(rules.delete().where(rules.c.category == "security"))
    for table, column in (("feed_item", "category"), ("advisory", "category")):
        target = sa.table(table, sa.column(column, sa.String))
        connection.execute(target.update().where(target.c[column] == "security").values({column: "other"}))
    feed = sa.table("feed", sa.column("default_category", sa.String))
    connection.execute(feed.update().where(feed.c.default_category == "security").values(default_category=None))
    _set_categories(OLD_CATEGORIES)
