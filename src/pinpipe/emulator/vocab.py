"""Constants of the reference data: categories, placeholders, shares and per-category words.

Numbers come from the reference source tables (DATA.md §2); they are embedded here so the
project never reads the calibration data at run time.
"""

from __future__ import annotations

from typing import Final

#: The 13 categories with their row counts in the 11,154-row reference table, in index order.
CATEGORY_SIZES: Final[tuple[tuple[str, int], ...]] = (
    ("art", 894),
    ("beauty", 746),
    ("christmas", 997),
    ("diy-and-crafts", 831),
    ("education", 863),
    ("event-planning", 747),
    ("finance", 788),
    ("home-decor", 860),
    ("mens-fashion", 853),
    ("quotes", 907),
    ("tattoos", 974),
    ("travel", 856),
    ("vehicles", 838),
)
CATEGORIES: Final[tuple[str, ...]] = tuple(name for name, _ in CATEGORY_SIZES)
REFERENCE_ROWS: Final[int] = 11_154

# Placeholder strings, exactly as the reference scraper wrote them.
NO_TITLE: Final[str] = "No Title Data Available"
UNTITLED: Final[str] = "Untitled"
NO_DESCRIPTION: Final[str] = "No description available"
STORY_DESCRIPTION: Final[str] = "No description available Story format"
USER_INFO_ERROR: Final[str] = "User Info Error"
NO_TAGS: Final[str] = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR: Final[str] = "Image src error."
TRUNCATION_MARK: Final[str] = "…\xa0"

IMAGE: Final[str] = "image"
VIDEO: Final[str] = "video"
STORY: Final[str] = "multi-video(story page format)"

# Shares over all rows (DATA.md §2).
SHARE_ALL_PLACEHOLDER: Final[float] = 0.009
SHARE_STORY: Final[float] = 0.067
SHARE_VIDEO: Final[float] = 0.028
SHARE_STORY_IMAGE_ERROR: Final[float] = 34 / 104  # of all story rows, placeholder rows included
SHARE_NO_DESCRIPTION: Final[float] = 0.016
SHARE_NO_TAGS: Final[float] = 0.005
SHARE_UNTITLED: Final[float] = 0.0006
SHARE_TRUNCATED: Final[float] = 0.37
SHARE_EIGHT_TAGS: Final[float] = 16 / 2429
SHARE_TRAILING_SPACE: Final[float] = 0.03  # of posters

#: Image extensions with their counts among reference image rows.
IMAGE_EXTENSIONS: Final[tuple[tuple[str, int], ...]] = (
    ("jpg", 1154),
    ("png", 233),
    ("webp", 7),
    ("gif", 2),
)

#: Relative weight of video and story posts per category (they cluster in crafts and events).
MEDIA_WEIGHT: Final[dict[str, float]] = {
    "art": 1.0,
    "beauty": 1.4,
    "christmas": 0.2,
    "diy-and-crafts": 3.0,
    "education": 0.2,
    "event-planning": 2.4,
    "finance": 0.8,
    "home-decor": 1.6,
    "mens-fashion": 1.0,
    "quotes": 0.5,
    "tattoos": 0.2,
    "travel": 1.0,
    "vehicles": 0.9,
}

#: Per category: (nouns, adjectives), comma-separated, for titles, tags and descriptions.
_CATEGORY_WORDS: Final[dict[str, tuple[str, str]]] = {
    "art": (
        (
            "painting, drawing, sketch, canvas, portrait, watercolor, mural, artist, "
            "sculpture, illustration, collage, gallery, acrylic, doodle, lesson, color wheel, "
            "landscape, still life, pottery, print"
        ),
        (
            "abstract, modern, surreal, colorful, easy, famous, vintage, minimalist, "
            "creative, fine, pencil, oil, contemporary, bold"
        ),
    ),
    "beauty": (
        (
            "makeup, lipstick, eyeliner, skincare, mascara, nails, hairstyle, serum, "
            "foundation, eyeshadow, lashes, brows, perfume, face mask, manicure, curls, "
            "braids, glow, routine, palette"
        ),
        (
            "natural, glam, perfect, easy, nude, smokey, matte, flawless, cute, summer, "
            "bridal, soft, bold, korean"
        ),
    ),
    "christmas": (
        (
            "christmas tree, ornament, wreath, gift, stocking, garland, cookie, snowman, "
            "santa, reindeer, elf, nativity, mantel, advent calendar, candle, holiday table, "
            "gingerbread, present, star, card"
        ),
        (
            "festive, merry, rustic, cozy, homemade, vintage, white, red, simple, farmhouse, "
            "elegant, kids, winter, sparkly"
        ),
    ),
    "diy-and-crafts": (
        (
            "craft, project, paper flower, mason jar, yarn, felt, glue gun, origami, upcycle, "
            "pom pom, sewing, embroidery, macrame, paint, kit, toddler craft, slime, "
            "cardboard, beads, quilt"
        ),
        (
            "easy, fun, cheap, simple, handmade, summer, kids, cute, quick, clever, homemade, "
            "rustic, colorful, recycled"
        ),
    ),
    "education": (
        (
            "classroom, worksheet, lesson plan, teacher, reading, math, science, phonics, "
            "spelling, anchor chart, student, homeschool, writing, grammar, activity, book, "
            "preschool, kindergarten, history, vocabulary"
        ),
        (
            "printable, free, fun, engaging, hands-on, elementary, middle school, easy, "
            "interactive, creative, weekly, first grade, daily, visual"
        ),
    ),
    "event-planning": (
        (
            "wedding, party, birthday, baby shower, centerpiece, invitation, venue, "
            "decoration, bouquet, reception, table setting, balloon, backdrop, favor, "
            "planner, checklist, bridal shower, menu, cake, theme"
        ),
        (
            "elegant, rustic, boho, outdoor, budget, vintage, floral, romantic, garden, "
            "simple, chic, gold, modern, intimate"
        ),
    ),
    "finance": (
        (
            "budget, savings, money, debt, investing, retirement, side hustle, income, credit "
            "score, dividend, coupon, frugal living, planner, emergency fund, stock, tax, "
            "expense, wealth, paycheck, challenge"
        ),
        (
            "smart, passive, easy, monthly, simple, extra, personal, frugal, free, financial, "
            "weekly, fast, realistic, early"
        ),
    ),
    "home-decor": (
        (
            "living room, bedroom, kitchen, bathroom, shelf, rug, curtain, sofa, wall art, "
            "lamp, entryway, pillow, mirror, plant, decal, farmhouse, patio, dining room, "
            "gallery wall, cabinet"
        ),
        (
            "cozy, modern, boho, rustic, minimalist, scandinavian, small, neutral, elegant, "
            "vintage, bright, industrial, coastal, dreamy"
        ),
    ),
    "mens-fashion": (
        (
            "outfit, suit, jacket, sneakers, jeans, blazer, watch, boots, shirt, chinos, "
            "streetwear, beard, hairstyle, coat, tie, hoodie, style, wardrobe, sunglasses, "
            "look"
        ),
        (
            "casual, classic, smart, stylish, street, summer, winter, business, slim, "
            "vintage, urban, minimal, rugged, dapper"
        ),
    ),
    "quotes": (
        (
            "quote, words, life, love, wisdom, motivation, inspiration, truth, happiness, "
            "relationship, friendship, strength, mindset, saying, advice, heart, soul, faith, "
            "success, healing"
        ),
        (
            "inspirational, motivational, wise, funny, deep, positive, true, great, short, "
            "beautiful, meaningful, sad, powerful, daily"
        ),
    ),
    "tattoos": (
        (
            "tattoo, sleeve, ink, design, rose, script, mandala, koi, dragon, compass, arrow, "
            "butterfly, skull, wolf, lettering, finger tattoo, back piece, sketch, symbol, "
            "flash"
        ),
        (
            "small, minimalist, fine line, tribal, geometric, dainty, bold, blackwork, "
            "traditional, delicate, dope, meaningful, mini, colorful"
        ),
    ),
    "travel": (
        (
            "beach, island, road trip, city, mountain, itinerary, hotel, backpack, "
            "destination, adventure, passport, lake, village, national park, cruise, bucket "
            "list, hike, packing list, sunset, vacation"
        ),
        (
            "beautiful, hidden, best, budget, tropical, european, romantic, epic, secret, "
            "ultimate, scenic, cheap, magical, wild"
        ),
    ),
    "vehicles": (
        (
            "car, truck, motorcycle, muscle car, classic car, engine, jeep, wheels, "
            "convertible, coupe, supercar, van, bike, camper, roadster, hot rod, tires, "
            "garage, concept car, lowrider"
        ),
        (
            "vintage, classic, custom, fast, antique, electric, luxury, old school, sport, "
            "rare, restored, off road, rugged, sleek"
        ),
    ),
}


def _split(words: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in words.split(","))


CATEGORY_WORDS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    cat: (_split(nouns), _split(adjs)) for cat, (nouns, adjs) in _CATEGORY_WORDS.items()
}

#: Short connective words so tags read like the reference ones ("Diy For Kids").
TAG_TAILS: Final[tuple[str, ...]] = _split(
    "ideas, for kids, for women, for men, diy, inspiration, tips, aesthetic, to do, projects, "
    "for beginners, design, photography, hacks, style"
)

#: Words poster names are made of, besides person names.
BRAND_WORDS: Final[tuple[str, ...]] = _split(
    "trend, spotter, style, studio, daily, journal, hub, nest, corner, house, life, mind, club, "
    "lab, planet, world, story, craft, home, design, muse, magazine, blog, co, shop, collective, "
    "guide, pixel, bloom, wander, luxe"
)
BLOG_SUFFIXES: Final[tuple[str, ...]] = _split(
    "Blog, Lifestyle Blog, Designs, Creative, Studio, Official, Shop, & Co, Mom Tips, Teacher Stuff"
)
