"""Demo data: who can log in, two campaigns wired to the dev mail server, a list."""

from __future__ import annotations

import io

from sqlalchemy import select

from example_host_app.extensions import db
from example_host_app.models import User
from ucmail_ext.crypto import encrypt_secret
from ucmail_ext.models import Campaign, Dialer, Member, Template
from ucmail_ext.services.dialer.lists import upload_list

DEMO_PASSWORD = "demo"
DEMO_USERS = (
    ("admin@example.com", "Ada Admin", "admin"),
    ("supervisor@example.com", "Sam Supervisor", "supervisor"),
    ("agent1@example.com", "Alice Agent", "agent"),
    ("agent2@example.com", "Bob Agent", "agent"),
    ("agent3@example.com", "Carol Agent", "agent"),
)
DEMO_CAMPAIGNS = (
    ("Support", "support@demo.test"),
    ("Sales", "sales@demo.test"),
)


def _user(email: str, name: str, roles: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name, roles=roles)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
    return user


def _campaign(name: str, address: str, mail_host: str, smtp_port: int, imap_port: int) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        campaign = Campaign(name=name, email_address=address)
        db.session.add(campaign)
    campaign.username = address
    campaign.password_encrypted = encrypt_secret(DEMO_PASSWORD)
    campaign.from_name = f"Demo {name}"
    campaign.smtp_host, campaign.smtp_port, campaign.smtp_security = mail_host, smtp_port, "none"
    campaign.imap_host, campaign.imap_port, campaign.imap_security = mail_host, imap_port, "none"
    campaign.enabled = True
    campaign.receive_emails = True
    campaign.strategy = "rrmemory"
    campaign.service_level_seconds = 300
    campaign.threshold_warning_seconds = 120
    campaign.threshold_critical_seconds = 300
    return campaign


def seed_demo(*, mail_host: str, smtp_port: int, imap_port: int) -> list[str]:
    """Idempotent: running it twice leaves one of everything.

    Each campaign has its own mailbox; the dev server gives campaign N the IMAP port
    ``imap_port + N``.
    """
    db.create_all()
    users = [_user(*spec) for spec in DEMO_USERS]
    campaigns = [
        _campaign(name, address, mail_host, smtp_port, imap_port + n)
        for n, (name, address) in enumerate(DEMO_CAMPAIGNS)
    ]
    db.session.flush()
    agents = [u for u in users if "agent" in u.role_list]
    for campaign in campaigns:
        for position, agent in enumerate(agents):
            exists = db.session.scalar(
                select(Member).where(
                    Member.campaign_id == campaign.id, Member.agent_id == str(agent.id)
                )
            )
            if exists is None:
                db.session.add(
                    Member(campaign_id=campaign.id, agent_id=str(agent.id), position=position)
                )
    support = campaigns[0]
    signature = db.session.scalar(select(Template).where(Template.name == "Support signature"))
    if signature is None:
        signature = Template(
            name="Support signature",
            campaign_id=support.id,
            body_text="--\nThe Demo Support team",
            body_html="<p>--<br>The Demo Support team</p>",
        )
        db.session.add(signature)
    welcome = db.session.scalar(select(Template).where(Template.name == "Welcome"))
    if welcome is None:
        welcome = Template(
            name="Welcome",
            subject="Welcome, ${name}",
            body_text="Hello ${name},\n\nthanks for joining our ${plan} plan.",
            body_html="<p>Hello ${name},</p><p>thanks for joining our <b>${plan}</b> plan.</p>",
        )
        db.session.add(welcome)
    db.session.flush()
    support.signature_template_id = signature.id
    dialer = db.session.scalar(select(Dialer).where(Dialer.name == "Welcome mailing"))
    db.session.commit()
    if dialer is None:
        dialer = Dialer(name="Welcome mailing", campaign_id=support.id, template_id=welcome.id)
        dialer.seconds_between = 1.0
        db.session.add(dialer)
        db.session.commit()
        # Through the real upload, so the demo list obeys the same rules as any list.
        rows = "".join(
            f'{support.name};customer{n}@customers.test;;;"name":"Customer {n}","plan":"Gold";\n'
            for n in range(1, 21)
        )
        upload_list(
            dialer.id,
            stream=io.BytesIO(rows.encode()),
            filename="demo-customers.csv",
            name="Demo customers",
            subject="Welcome, ${name}",
        )
    return [f"{email} / {DEMO_PASSWORD}  ({roles})" for email, _name, roles in DEMO_USERS] + [
        f"campaign {c.name}: {c.email_address} on {mail_host}" for c in campaigns
    ]
