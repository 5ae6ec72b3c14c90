"""Deterministic, realistic seed data: the same seed always gives the same site.

Every id and date comes from one seeded RNG, and dates are spread over the five years before a
fixed anchor rather than before "now", so two runs on different days still agree.
"""

from __future__ import annotations

import random

from .clock import iso, parse_iso_ms
from .store import CUSTOM_NAMESPACE, CUSTOM_NAMESPACE_DISPLAY, slugify

ANCHOR_MS = parse_iso_ms("2026-01-01T00:00:00Z")
SPAN_MS = 5 * 365 * 24 * 3600 * 1000

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "William",
    "Mia",
    "Benjamin",
    "Charlotte",
    "Lucas",
    "Harper",
    "Henry",
    "Evelyn",
    "Theodore",
    "Abigail",
    "Jack",
    "Emily",
    "Levi",
    "Ella",
    "Alexander",
    "Elizabeth",
    "Jackson",
    "Camila",
    "Mateo",
    "Luna",
    "Daniel",
    "Sofia",
    "Michael",
    "Avery",
    "Mason",
    "Mila",
    "Sebastian",
    "Aria",
    "Ethan",
    "Scarlett",
    "Logan",
    "Penelope",
    "Owen",
    "Layla",
    "Samuel",
    "Chloe",
    "Jacob",
    "Victoria",
    "Asher",
    "Madison",
    "Aiden",
    "Eleanor",
    "John",
    "Grace",
    "Joseph",
    "Nora",
    "Wyatt",
    "Riley",
    "David",
    "Zoey",
    "Leo",
    "Hannah",
    "Luke",
    "Hazel",
    "Julian",
    "Lily",
    "Hudson",
    "Ellie",
    "Grayson",
    "Violet",
    "Matthew",
    "Lillian",
    "Ezra",
    "Zoe",
    "Gabriel",
    "Stella",
    "Carter",
    "Aurora",
    "Isaac",
    "Natalie",
    "Jayden",
    "Emilia",
    "Lincoln",
    "Everly",
    "Anthony",
    "Leah",
    "Maya",
    "Noa",
    "Yael",
    "Tamar",
    "Omer",
    "Itai",
    "Ines",
    "Lucia",
    "Mateus",
    "Hugo",
    "Chiara",
    "Giulia",
    "Luca",
    "Lars",
    "Freya",
    "Sven",
    "Ingrid",
    "Kenji",
    "Yuki",
    "Aiko",
    "Haruto",
    "Priya",
    "Arjun",
    "Ananya",
    "Rohan",
    "Zainab",
    "Omar",
    "Fatima",
    "Youssef",
    "Amara",
    "Kofi",
]

LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Cohen",
    "Levi",
    "Mizrahi",
    "Peretz",
    "Biton",
    "Friedman",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Larsen",
    "Hansen",
    "Nielsen",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Sharma",
    "Gupta",
    "Okafor",
    "Mensah",
    "Haddad",
    "Nasser",
]

# (domain, weight): mostly webmail, some company addresses.
DOMAINS = [
    ("gmail.com", 34),
    ("yahoo.com", 9),
    ("outlook.com", 9),
    ("hotmail.com", 6),
    ("icloud.com", 6),
    ("proton.me", 3),
    ("aol.com", 2),
    ("gmx.de", 2),
    ("acme.co", 2),
    ("northwind.com", 2),
    ("contoso.com", 2),
    ("fabrikam.io", 1),
    ("globex.net", 1),
    ("initech.com", 1),
    ("example.org", 1),
]

LABEL_NAMES = [
    "Newsletter",
    "VIP",
    "Lead",
    "Webinar Attendee",
    "Spring Sale 2024",
    "Returning Customer",
    "VIP Customer",
    "Black Friday 2023",
    "Wholesale",
    "Partner",
    "At Risk",
    "Event Attendee",
    "Trial User",
    "Influencer",
    "Press",
    "Beta Tester",
    "Referral",
    "Abandoned Cart",
    "Cold Lead",
    "Hot Lead",
    "Summer Camp 2024",
    "Loyalty Program",
    "Gift Card Buyer",
    "Workshop Signup",
    "Podcast Listener",
    "Donor",
    "Volunteer",
    "Board Member",
    "Customer Group 3",
    "White Glove Treatment",
    "Holiday Catalog 2023",
    "Yoga Class",
    "Book Club",
    "Local Pickup",
    "International",
    "Enterprise",
    "Small Business",
    "Nonprofit",
    "Student Discount",
    "Membership: Gold",
    "Membership: Silver",
    "Do Not Email",
    "Survey Respondent",
    "Instagram Giveaway",
    "Trade Show 2022",
    "Cyber Monday 2024",
    "Free Consultation",
    "Coupon User",
    "Early Bird",
    "Re-engaged",
    "Catering Inquiry",
    "Wedding Inquiry",
    "Subscription Box",
    "Feedback Panel",
    "Ambassador",
    "Win-back Campaign",
    "Café Regular",
    "Open House 2025",
    "Newsletter (Weekly)",
    "Pop-up Shop",
]

_SEASONS = ["Spring", "Summer", "Autumn", "Winter", "Holiday", "Back to School", "New Year"]
_THINGS = [
    "Sale",
    "Webinar",
    "Workshop",
    "Launch",
    "Promo",
    "Giveaway",
    "Open House",
    "Retreat",
    "Fair",
    "Tasting",
    "Course",
    "Meetup",
]
_AUDIENCES = [
    "Customers",
    "Leads",
    "Members",
    "Subscribers",
    "Attendees",
    "Partners",
    "Donors",
    "Students",
    "Buyers",
    "Guests",
]
_REGIONS = ["North", "South", "East", "West", "Central", "EU", "US", "APAC", "UK", "Tel Aviv"]

_PHONE_COUNTRIES = [
    ("US", "1", 70),
    ("GB", "44", 10),
    ("IL", "972", 8),
    ("DE", "49", 7),
    ("FR", "33", 5),
]


def label_names(count: int, rng: random.Random) -> list[str]:
    names = LABEL_NAMES[:count]
    seen = set(names)
    while len(names) < count:
        style = rng.random()
        if style < 0.45:
            name = f"{rng.choice(_SEASONS)} {rng.choice(_THINGS)} {rng.randint(2019, 2025)}"
        elif style < 0.75:
            name = f"{rng.choice(_REGIONS)} {rng.choice(_AUDIENCES)}"
        else:
            name = f"{rng.choice(_THINGS)} {rng.choice(_AUDIENCES)} {rng.randint(1, 40)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def generate(contacts: int, labels: int, seed: int) -> tuple[list[dict], list[dict], set[str]]:
    rng = random.Random(seed)
    # Seeding 100k contacts must take seconds, so the hot loop draws with rng.random() directly
    # instead of choice/randint/uuid.UUID, which cost several Python calls each.
    draw = rng.random
    bits = rng.getrandbits

    def new_id() -> str:
        value = bits(128) & _UUID_CLEAR | _UUID_V4
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def pick(options):
        return options[int(draw() * len(options))]

    def between(low: int, high: int) -> int:
        return low + int(draw() * (high - low + 1))

    used_keys: set[str] = {"contacts.customers", "contacts.contacted-me"}
    label_list = []
    for name in label_names(labels, rng):
        base = key = f"{CUSTOM_NAMESPACE}.{slugify(name)}"
        suffix = 1
        while key in used_keys:
            suffix += 1
            key = f"{base}-{suffix}"
        used_keys.add(key)
        created = ANCHOR_MS - int(draw() * SPAN_MS)
        renamed = created + int(draw() * (ANCHOR_MS - created)) if draw() < 0.2 else created
        label_list.append(
            {
                "namespace": CUSTOM_NAMESPACE,
                "namespaceDisplayName": CUSTOM_NAMESPACE_DISPLAY,
                "key": key,
                "displayName": name,
                "labelType": "USER_DEFINED",
                "createdDate": iso(created),
                "updatedDate": iso(renamed),
            }
        )

    # Zipf-like use: the first few labels sit on about a third of the contacts, the tail on few.
    carried: list[list[str]] = [[] for _ in range(contacts)]
    shares = [("contacts.customers", 0.08), ("contacts.contacted-me", 0.05)]
    shares += [
        (label["key"], 0.33 if rank < 3 else 0.33 * (3 / (rank + 1)) ** 1.3)
        for rank, label in enumerate(label_list)
    ]
    for key, share in shares:
        wanted = min(contacts, round(contacts * share * (0.8 + 0.4 * draw())))
        for index in rng.sample(range(contacts), wanted):
            carried[index].append(key)

    # Weighted choices become uniform picks from lists that repeat each option by its weight.
    domains = [domain for domain, weight in DOMAINS for _ in range(weight)]
    countries = [(code, dial) for code, dial, weight in _PHONE_COUNTRIES for _ in range(weight)]
    phone_tags = ("MOBILE", "MOBILE", "MAIN", "HOME", "WORK")
    people = []
    for index in range(contacts):
        cid = new_id()
        first, last = pick(FIRST_NAMES), pick(LAST_NAMES)
        created = ANCHOR_MS - int(draw() * SPAN_MS)
        if draw() < 0.4:
            updated, revision = created + int(draw() * (ANCHOR_MS - created)), between(2, 6)
        else:
            updated, revision = created, 1
        lower_first, lower_last = first.lower(), last.lower()
        emails = []
        for tag in ("MAIN", "WORK") if draw() < 0.15 else ("MAIN",):
            style = int(draw() * 6)
            if style == 0:
                local = f"{lower_first}.{lower_last}"
            elif style == 1:
                local = f"{lower_first}{lower_last}"
            elif style == 2:
                local = f"{lower_first[0]}{lower_last}"
            elif style == 3:
                local = f"{lower_first}_{lower_last}"
            elif style == 4:
                local = f"{lower_first}.{lower_last}{between(1, 99)}"
            else:
                local = f"{lower_first}{between(70, 2005)}"
            address = f"{local}@{pick(domains)}"
            emails.append({"id": new_id(), "tag": tag, "email": address, "primary": tag == "MAIN"})
        phones = []
        primary = {"email": emails[0]["email"]}
        if draw() < 0.7:
            country, dial = pick(countries)
            area, middle, end = between(201, 989), between(200, 999), between(0, 9999)
            phone = f"{area}-{middle}-{end:04d}"
            phones.append(
                {
                    "id": new_id(),
                    "tag": pick(phone_tags),
                    "countryCode": country,
                    "phone": phone,
                    "e164Phone": f"+{dial}{area}{middle}{end:04d}",
                    "primary": True,
                }
            )
            primary["phone"] = phone
        people.append(
            {
                "id": cid,
                "revision": revision,
                "source": {"sourceType": "ADMIN"},
                "createdDate": iso(created),
                "updatedDate": iso(updated),
                "primaryInfo": primary,
                "info": {
                    "name": {"first": first, "last": last},
                    "emails": {"items": emails},
                    "phones": {"items": phones},
                    "labelKeys": {"items": carried[index]},
                },
            }
        )
    return label_list, people, used_keys


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)
