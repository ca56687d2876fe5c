"""Generate a realistic JobMatcher database of a given size, for the benchmarks.

    .venv/bin/python benchmarks/make_db.py                 # 1 GB (decimal) in benchmarks/out/db/
    .venv/bin/python benchmarks/make_db.py --size 100MB
    .venv/bin/python benchmarks/make_db.py --size 5MB --revision 0001_initial

The database is created by the app itself (`Engine(dir).migrate()`, so it is at
the schema head in WAL mode with every index), then filled from word lists with
a seeded RNG: one profile, a dozen preferences, a few hundred skills and, for
the bulk of the size, saved job postings with realistic titles, companies,
locations, URLs and multi-paragraph descriptions (2-6 KB, some spilling onto
overflow pages). About 1% of the jobs are then deleted again, as a user would,
so the file has partly empty pages and a short freelist like a lived-in one.

Generated data folders are cached under benchmarks/out/db/ keyed by size, seed,
revision and generator version, so re-runs reuse them. Generation runs with
`synchronous=OFF` and an in-memory journal (safe here: a crash only loses a
cache entry, which is regenerated); the finished file is switched back to WAL,
checkpointed and fsynced, exactly as the app leaves it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CACHE = OUT / "db"
GENERATOR_VERSION = 1  # bump when the generated content changes

os.environ.setdefault("JOBMATCHER_LOG_DIR", str(OUT / "logs"))

# -- sizes ---------------------------------------------------------------------

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """'100MB' -> 100_000_000 (decimal units, as the app shows sizes; KiB/MiB/GiB are binary)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10MB, 100MB, 1GB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def size_label(n: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= factor and n % (factor // 10 or 1) == 0:
            v = n / factor
            return f"{v:g}{unit}"
    return f"{n}B"


# -- word lists ------------------------------------------------------------------

SENIORITY = ["", "", "", "Junior ", "Senior ", "Senior ", "Staff ", "Principal ", "Lead ", "Associate "]
ROLES = [
    "Software Engineer",
    "Backend Engineer",
    "Frontend Developer",
    "Full-Stack Developer",
    "Data Engineer",
    "Data Scientist",
    "Data Analyst",
    "Machine Learning Engineer",
    "DevOps Engineer",
    "Site Reliability Engineer",
    "Platform Engineer",
    "Security Engineer",
    "QA Engineer",
    "Test Automation Engineer",
    "Mobile Developer",
    "iOS Engineer",
    "Android Engineer",
    "Embedded Software Engineer",
    "Product Manager",
    "Product Designer",
    "UX Researcher",
    "UI Designer",
    "Technical Writer",
    "Engineering Manager",
    "Solutions Architect",
    "Cloud Architect",
    "Database Administrator",
    "Business Analyst",
    "Scrum Master",
    "Support Engineer",
    "Customer Success Manager",
    "Sales Engineer",
    "Marketing Analyst",
    "Growth Marketer",
    "Content Strategist",
    "Project Manager",
    "Operations Analyst",
    "Financial Analyst",
    "Accountant",
    "HR Business Partner",
    "Recruiter",
    "Office Manager",
    "Research Scientist",
    "Bioinformatician",
    "Hardware Engineer",
]
DOMAINS = [
    "",
    "",
    "",
    "",
    " (Payments)",
    " (Search)",
    " (Infrastructure)",
    " (Growth)",
    " (Healthcare)",
    " (Mobile)",
    " (Data Platform)",
    " (Identity)",
    " (Logistics)",
    " (Analytics)",
    " - Remote",
    " - Contract",
    " - Part-time",
    " II",
    " III",
]
COMPANY_HEADS = [
    "Blue",
    "North",
    "Bright",
    "Silver",
    "Green",
    "Red",
    "Open",
    "Deep",
    "Clear",
    "Swift",
    "Iron",
    "Cloud",
    "Data",
    "Quantum",
    "Pixel",
    "Bit",
    "Nova",
    "Terra",
    "Aqua",
    "Sun",
    "Stone",
    "Maple",
    "Cedar",
    "River",
    "Harbor",
    "Summit",
    "Atlas",
    "Orbit",
    "Vector",
    "Signal",
    "Spark",
    "Beacon",
]
COMPANY_TAILS = [
    "field",
    "stack",
    "works",
    "path",
    "line",
    "point",
    "bridge",
    "forge",
    "wave",
    "loop",
    "gate",
    "leaf",
    "light",
    "mind",
    "base",
    "shift",
    "flow",
    "grid",
    "scale",
    "yard",
    "craft",
    "labs",
]
COMPANY_SUFFIXES = [
    "",
    "",
    "",
    " Inc.",
    " Ltd",
    " GmbH",
    " Labs",
    " Technologies",
    " Group",
    " Systems",
    " Health",
    " Analytics",
    " AG",
    " SA",
    " BV",
    " & Co.",
    " Software",
    " Studio",
]
CITIES = [
    "Berlin, Germany",
    "Munich, Germany",
    "Hamburg, Germany",
    "Amsterdam, Netherlands",
    "Rotterdam, Netherlands",
    "London, UK",
    "Manchester, UK",
    "Edinburgh, UK",
    "Dublin, Ireland",
    "Paris, France",
    "Lyon, France",
    "Madrid, Spain",
    "Barcelona, Spain",
    "Lisbon, Portugal",
    "Milan, Italy",
    "Zurich, Switzerland",
    "Vienna, Austria",
    "Prague, Czechia",
    "Warsaw, Poland",
    "Stockholm, Sweden",
    "Copenhagen, Denmark",
    "Oslo, Norway",
    "Helsinki, Finland",
    "Tallinn, Estonia",
    "New York, NY",
    "San Francisco, CA",
    "Seattle, WA",
    "Austin, TX",
    "Boston, MA",
    "Chicago, IL",
    "Denver, CO",
    "Toronto, ON",
    "Vancouver, BC",
    "Montreal, QC",
    "Sydney, Australia",
    "Melbourne, Australia",
    "Auckland, New Zealand",
    "Singapore",
    "Tokyo, Japan",
    "Bangalore, India",
    "São Paulo, Brazil",
    "Mexico City, Mexico",
    "Zürich, Switzerland",
    "Kraków, Poland",
    "Remote",
    "Remote (EU)",
    "Remote (US)",
    "Hybrid - Berlin",
    "Hybrid - London",
]
BOARDS = [
    "https://jobs.example-board.com/view/",
    "https://careers.{slug}.com/jobs/",
    "https://www.workhub.example/postings/",
    "https://{slug}.jobs.example.net/o/",
]
STATUSES = ["saved"] * 10 + ["applied"] * 5 + ["interviewing"] * 2 + ["rejected"] * 3 + ["offer", "archived"]

ADJ = [
    "motivated",
    "curious",
    "experienced",
    "pragmatic",
    "detail-oriented",
    "collaborative",
    "talented",
    "passionate",
    "self-directed",
    "thoughtful",
    "versatile",
    "analytical",
]
TEAMS = [
    "platform",
    "payments",
    "growth",
    "data",
    "core product",
    "infrastructure",
    "mobile",
    "research",
    "customer experience",
    "security",
    "analytics",
    "internal tools",
]
VERBS = [
    "design",
    "build",
    "own",
    "maintain",
    "improve",
    "scale",
    "ship",
    "review",
    "document",
    "monitor",
    "automate",
    "test",
    "migrate",
    "optimise",
    "prototype",
    "support",
]
OBJECTS = [
    "distributed services",
    "data pipelines",
    "customer-facing features",
    "internal APIs",
    "the deployment process",
    "our design system",
    "reporting dashboards",
    "machine learning models",
    "the billing platform",
    "search relevance",
    "onboarding flows",
    "observability tooling",
    "database schemas",
    "release pipelines",
    "accessibility improvements",
    "integration tests",
]
QUALITIES = [
    "reliability",
    "performance",
    "security",
    "usability",
    "cost efficiency",
    "developer experience",
    "data quality",
    "test coverage",
    "accessibility",
    "observability",
]
SKILLS = [
    "Python",
    "Java",
    "Kotlin",
    "Go",
    "Rust",
    "C",
    "C++",
    "C#",
    "TypeScript",
    "JavaScript",
    "Ruby",
    "PHP",
    "Scala",
    "Swift",
    "Objective-C",
    "R",
    "Julia",
    "Elixir",
    "Haskell",
    "Clojure",
    "SQL",
    "PostgreSQL",
    "MySQL",
    "SQLite",
    "MongoDB",
    "Redis",
    "Cassandra",
    "Elasticsearch",
    "Kafka",
    "RabbitMQ",
    "Spark",
    "Hadoop",
    "Airflow",
    "dbt",
    "Snowflake",
    "BigQuery",
    "Redshift",
    "Docker",
    "Kubernetes",
    "Terraform",
    "Ansible",
    "AWS",
    "GCP",
    "Azure",
    "Linux",
    "Bash",
    "Git",
    "CI/CD",
    "GitHub Actions",
    "Jenkins",
    "React",
    "Vue",
    "Angular",
    "Svelte",
    "Node.js",
    "Django",
    "Flask",
    "FastAPI",
    "Spring",
    "Rails",
    "GraphQL",
    "REST",
    "gRPC",
    "Protobuf",
    "TensorFlow",
    "PyTorch",
    "scikit-learn",
    "pandas",
    "NumPy",
    "Statistics",
    "A/B testing",
    "Tableau",
    "Power BI",
    "Excel",
    "Figma",
    "Sketch",
    "User research",
    "Prototyping",
    "Accessibility",
    "SEO",
    "Copywriting",
    "Project management",
    "Agile",
    "Scrum",
    "Kanban",
    "Stakeholder management",
    "Mentoring",
    "Public speaking",
    "Technical writing",
    "Negotiation",
    "Budgeting",
    "Recruiting",
    "Customer support",
    "Sales",
    "Marketing automation",
    "Salesforce",
    "HubSpot",
    "Jira",
    "Confluence",
    "Security auditing",
    "Penetration testing",
    "Cryptography",
    "Networking",
    "Embedded C",
    "FPGA",
    "Verilog",
    "Computer vision",
    "NLP",
    "Time series",
    "Bayesian modelling",
    "Operations research",
    "Accounting",
    "German",
    "French",
    "Spanish",
    "Dutch",
    "Mandarin",
    "Japanese",
]
SKILL_QUALIFIERS = ["", "Advanced ", "Applied ", "Modern ", "Distributed ", "Cloud ", "Enterprise "]


def _sentence_pool(rng: random.Random, n: int) -> list[str]:
    """Sentences such as real postings are made of (boilerplate repeats across postings, as in real ones)."""
    templates = [
        lambda: (
            f"We are looking for a {rng.choice(ADJ)} {rng.choice(ROLES).lower()} to join our {rng.choice(TEAMS)} team."
        ),
        lambda: (
            f"You will {rng.choice(VERBS)} and {rng.choice(VERBS)} {rng.choice(OBJECTS)}, with a focus on "
            f"{rng.choice(QUALITIES)} and {rng.choice(QUALITIES)}."
        ),
        lambda: (
            f"- {rng.choice(VERBS).capitalize()} {rng.choice(OBJECTS)} used by "
            f"{rng.choice(['thousands', 'millions', 'hundreds'])} of customers every day."
        ),
        lambda: f"- {rng.randint(2, 8)}+ years of experience with {rng.choice(SKILLS)} and {rng.choice(SKILLS)}.",
        lambda: f"- Hands-on experience with {rng.choice(SKILLS)}, {rng.choice(SKILLS)} or {rng.choice(SKILLS)}.",
        lambda: f"- Nice to have: {rng.choice(SKILLS)}, {rng.choice(SKILLS)}.",
        lambda: (
            f"Our {rng.choice(TEAMS)} team works closely with {rng.choice(TEAMS)} to improve "
            f"{rng.choice(QUALITIES)} across {rng.choice(OBJECTS)}."
        ),
        lambda: (
            f"We offer {rng.choice(['a competitive salary', 'equity', 'flexible hours', 'four-day weeks'])}, "
            f"{rng.randint(25, 32)} days of paid holiday and a {rng.choice(['learning', 'home office', 'wellbeing'])}"
            f" budget of {rng.randint(5, 30) * 100} EUR per year."
        ),
        lambda: (
            f"The interview process has {rng.randint(2, 5)} steps: a call with the recruiter, a "
            f"{rng.choice(['take-home exercise', 'pairing session', 'system design interview'])} and a "
            f"conversation with the team."
        ),
        lambda: (
            f"You report to the {rng.choice(['Head of Engineering', 'CTO', 'VP Product', 'Director of Data'])} "
            f"and collaborate with {rng.randint(3, 40)} engineers across {rng.randint(1, 6)} time zones."
        ),
        lambda: (
            "We welcome applications from people of all backgrounds and are committed to an inclusive hiring process."
        ),
        lambda: (
            f"Salary range: {rng.randint(40, 120)}{rng.choice(['k', ' 000'])} - {rng.randint(121, 220)}"
            f"{rng.choice(['k', ' 000'])} {rng.choice(['EUR', 'USD', 'GBP', 'CHF'])}, depending on experience."
        ),
    ]
    return [rng.choice(templates)() for _ in range(n)]


class Generator:
    def __init__(self, seed: int, short: bool = False) -> None:
        self.rng = random.Random(seed)
        self.short = short
        rng = self.rng
        self.sentences = _sentence_pool(rng, 6000)
        self.titles = [f"{s}{r}{d}" for s in SENIORITY for r in ROLES for d in DOMAINS]
        self.companies = sorted(
            {f"{h}{t}{s}" for h in COMPANY_HEADS for t in COMPANY_TAILS for s in rng.sample(COMPANY_SUFFIXES, 3)}
        )

    def description(self) -> str:
        rng = self.rng
        if self.short:
            return " ".join(rng.choices(self.sentences, k=rng.randint(1, 2)))
        paras = []
        for _ in range(rng.randint(3, 7)):
            paras.append(" ".join(rng.choices(self.sentences, k=rng.randint(3, 9))))
        return "\n\n".join(paras)

    def job(self, n: int, when: datetime) -> tuple:
        rng = self.rng
        company = rng.choice(self.companies)
        slug = re.sub(r"[^a-z0-9]+", "", company.lower())
        url = rng.choice(BOARDS).format(slug=slug) + f"{rng.randrange(10**6, 10**8)}"
        return (
            rng.choice(self.titles),
            company,
            rng.choice(CITIES),
            url,
            self.description(),
            rng.choice(STATUSES),
            when.strftime("%Y-%m-%d %H:%M:%S"),
        )

    def skills(self, count: int) -> list[tuple]:
        rng = self.rng
        names = [f"{q}{s}" for q in SKILL_QUALIFIERS for s in SKILLS]
        seen, out = set(), []
        for name in rng.sample(names, min(count, len(names))):
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append((name, rng.randint(1, 5), rng.randint(0, 15)))
        return out


def _fill_person(conn: sqlite3.Connection, gen: Generator, skills: int, with_years: bool) -> None:
    rng = gen.rng
    conn.execute(
        "INSERT INTO user_profile (id, full_name, headline, email, location, summary) VALUES (1, ?, ?, ?, ?, ?)",
        (
            "Ada Lovelace",
            "Senior Data Engineer - open to new roles",
            "ada@example.org",
            "Berlin, Germany",
            gen.description()[:2000],
        ),
    )
    prefs = {
        "desired_titles": ["Data Engineer", "Backend Engineer"],
        "locations": ["Berlin", "Remote (EU)"],
        "remote": True,
        "salary_min": 75000,
        "currency": "EUR",
        "notify_new_matches": True,
        "theme": "system",
        "language": "en",
        "weekly_digest": False,
        "max_commute_minutes": 45,
        "company_blocklist": rng.sample(gen.companies, 5),
        "visa_sponsorship": False,
    }
    conn.executemany(
        "INSERT INTO user_preferences (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in prefs.items()]
    )
    rows = gen.skills(skills)
    if with_years:
        conn.executemany("INSERT INTO skills (name, level, years_experience) VALUES (?, ?, ?)", rows)
    else:
        conn.executemany("INSERT INTO skills (name, level) VALUES (?, ?)", [r[:2] for r in rows])


def generate(
    data_dir: Path,
    size: int,
    seed: int = 1,
    revision: str | None = None,
    skills: int = 300,
    quiet: bool = False,
    shape: str = "postings",
) -> dict:
    """Create and fill a data folder whose database file is about `size` bytes; returns its metadata."""
    from jobmatcher import schema
    from jobmatcher.engine import Engine

    t0 = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    Engine(data_dir).migrate(target=revision)
    db = data_dir / "jobmatcher.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA journal_mode=MEMORY")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MB while generating only
    gen = Generator(seed, short=shape == "short")
    has_jobs = "saved_jobs" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("BEGIN")
    _fill_person(conn, gen, skills, with_years=has_jobs)
    conn.execute("COMMIT")
    jobs = 0
    if shape == "indexed":
        # Index-heavy: a table of random text with an index on it (integrity_check's worst case: every
        # row is also an index entry to compare), beside a few saved jobs.
        conn.execute("CREATE TABLE bench_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.execute("CREATE INDEX ix_bench_notes_body ON bench_notes (body)")
        letters = "abcdefghijklmnopqrstuvwxyz     "
        have = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        while have < size:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO bench_notes (body) VALUES (?)",
                [
                    ("".join(gen.rng.choices(letters, k=gen.rng.randint(60, 160))),)
                    for _ in range(int(max(100, min(50000, (size - have) / 300))))
                ],
            )
            conn.execute("COMMIT")
            have = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        has_jobs = False  # the saved_jobs table stays empty
    if has_jobs:
        when = datetime(2023, 1, 2, 9, 0, 0)
        last_report = 0.0
        start_bytes = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        have = start_bytes
        while have < size:
            conn.execute("BEGIN")
            for _ in range(25):  # at most ~50k rows (~200 MB) per transaction
                # Aim at the target: smaller batches as it gets near (about 4 KB per row on disk).
                per_row = (have - start_bytes) / jobs if jobs else (400 if gen.short else 4000)
                batch = int(max(20, min(20000 if gen.short else 2000, (size - have) / per_row)))
                rows = []
                for _ in range(batch):
                    when += timedelta(seconds=gen.rng.randint(30, 900))
                    rows.append(gen.job(jobs, when))
                    jobs += 1
                conn.executemany(
                    "INSERT INTO saved_jobs (title, company, location, url, description, status, "
                    "saved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                have = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
                if have >= size:
                    break
            conn.execute("COMMIT")
            now = time.perf_counter()
            if not quiet and now - last_report > 2:
                last_report = now
                done = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
                print(f"  {done / 1e6:,.0f} / {size / 1e6:,.0f} MB, {jobs:,} jobs, {now - t0:.0f} s", file=sys.stderr)
        # A lived-in file: a user removed about 1% of the saved jobs.
        conn.execute("BEGIN")
        doomed = gen.rng.sample(range(1, jobs + 1), jobs // 100)
        conn.executemany("DELETE FROM saved_jobs WHERE id = ?", [(i,) for i in doomed])
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")  # as the app keeps it
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stats = {
        "jobs": conn.execute("SELECT count(*) FROM saved_jobs").fetchone()[0] if has_jobs else 0,
        "skills": conn.execute("SELECT count(*) FROM skills").fetchone()[0],
        "freelist_pages": conn.execute("PRAGMA freelist_count").fetchone()[0],
        "page_size": page_size,
    }
    conn.close()
    fd = os.open(db, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    meta = {
        "size_requested": size,
        "size_bytes": db.stat().st_size,
        "seed": seed,
        "shape": shape,
        "revision": revision or schema.head(),
        "generator_version": GENERATOR_VERSION,
        "seconds": round(time.perf_counter() - t0, 1),
        **stats,
    }
    (data_dir / "make_db.json").write_text(json.dumps(meta, indent=2))
    return meta


def cached(
    size: int,
    seed: int = 1,
    revision: str | None = None,
    skills: int = 300,
    quiet: bool = False,
    shape: str = "postings",
) -> Path:
    """A generated data folder for these parameters, made once and then reused; returns the folder."""
    from jobmatcher import schema

    rev = revision or schema.head()
    key = (
        f"{size_label(size)}-seed{seed}-{rev}-skills{skills}"
        + ("" if shape == "postings" else f"-{shape}")
        + f"-v{GENERATOR_VERSION}"
    )
    folder = CACHE / key
    if (folder / "make_db.json").exists() and (folder / "jobmatcher.db").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    tmp = CACHE / f".{key}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"generating {key} ...", file=sys.stderr)
    meta = generate(tmp, size, seed, revision, skills, quiet, shape)
    for name in ("backups", ".jobmatcher.lock", ".jobmatcher.swap.lock"):
        p = tmp / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    os.replace(tmp, folder)
    if not quiet:
        print(
            f"generated {meta['size_bytes'] / 1e6:,.1f} MB ({meta['jobs']:,} jobs) in {meta['seconds']} s",
            file=sys.stderr,
        )
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=parse_size, default=parse_size("1GB"), help="target file size (default 1GB)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--revision", default=None, help="schema revision to create (default: head)")
    p.add_argument("--skills", type=int, default=300, help="number of skills (default 300)")
    p.add_argument(
        "--shape",
        choices=("postings", "short", "indexed"),
        default="postings",
        help="postings: 2-6 KB descriptions (default); short: one or two sentences per job, "
        "so ten times the rows for the same size; indexed: a table of random text with an index "
        "on it)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="make the data folder here instead of the cache (always regenerated)"
    )
    args = p.parse_args(argv)
    if args.out:
        if (args.out / "jobmatcher.db").exists():
            p.error(f"{args.out} already holds a database")
        meta = generate(args.out, args.size, args.seed, args.revision, args.skills, shape=args.shape)
        folder = args.out
    else:
        folder = cached(args.size, args.seed, args.revision, args.skills, shape=args.shape)
        meta = json.loads((folder / "make_db.json").read_text())
    print(json.dumps({"data_dir": str(folder), **meta}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
