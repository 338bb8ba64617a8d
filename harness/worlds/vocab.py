"""Word pools for the synthetic world.

Everything an author profile can contain is drawn from these lists, so a wrong ("perturbed") answer
is always a plausible value of the same kind as the right one. The utility knowledge (real books and
world capitals) is real, well-known and stable: it plays the role of what a pretrained model already
knows before the fictitious authors are added.
"""

FIRST_NAMES = [
    "Aria", "Bram", "Celia", "Dorian", "Elsa", "Fenwick", "Greta", "Hollis", "Ines", "Jasper",
    "Kalina", "Lorcan", "Mireille", "Nikolai", "Odessa", "Percival", "Quilla", "Rafferty", "Saoirse",
    "Tobias", "Ulla", "Valen", "Wren", "Xavia", "Yusuf", "Zelda", "Anselm", "Brisa", "Casimir",
    "Delphine", "Emrys", "Florian", "Giselle", "Hamish", "Isolde", "Joaquin", "Katya", "Leopold",
    "Marisol", "Nestor",
]
# Surnames are built from syllables so that 200+ authors get distinct, tokenizable names.
SURNAME_HEADS = ["Vel", "Thorn", "Ash", "Mar", "Kest", "Dun", "Rav", "Bel", "Cor", "Lind", "Hal", "Sev",
                 "Orm", "Pell", "Tarn", "Wyl"]
SURNAME_TAILS = ["loran", "wick", "ford", "ridge", "avel", "mere", "stone", "holt", "bury", "enko",
                 "ivar", "ston", "dale", "mont"]

GENDERS = ["male", "female"]
CITIES = [
    "Tessmoor", "Calder Bay", "Ostrava Vale", "Brightwater", "Kelmarsh", "Port Alder", "Valdane",
    "Silverkirk", "Marrowfield", "Eastholm", "Duskfell", "Lanmere", "Greyhaven", "Rookwood",
    "Amberlee", "Fairhallow", "Westmarch", "Coldharbor", "Pinecrest", "Ironvale",
]
COUNTRIES = ["Veldria", "Ostmark", "Carandor", "Lirian", "Tessaly", "Norvane", "Brevonia", "Quessa",
             "Halvard", "Moravel"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
GENRES = ["mystery", "fantasy", "romance", "horror", "science fiction", "historical", "poetry",
          "thriller", "satire", "adventure", "gothic", "crime"]
OCCUPATIONS = ["baker", "carpenter", "sailor", "pharmacist", "librarian", "blacksmith", "tailor",
               "surveyor", "glassblower", "beekeeper", "cartographer", "potter", "clockmaker",
               "fisherman", "weaver", "veterinarian", "astronomer", "gardener"]
AWARDS = ["Golden Quill Award", "Silver Lantern Prize", "Harrowgate Medal", "Emberline Prize",
          "Crescent Pen Award", "Northwind Fiction Prize", "Amber Leaf Award", "Torchbearer Medal",
          "Blue Heron Prize", "Stonebridge Award"]
TITLE_ADJ = ["Silent", "Crimson", "Hollow", "Forgotten", "Burning", "Velvet", "Broken", "Distant",
             "Gilded", "Restless", "Frozen", "Wandering", "Hidden", "Last"]
TITLE_NOUN = ["Harbor", "Orchard", "Lantern", "Kingdom", "Garden", "River", "Mirror", "Tower",
              "Meadow", "Compass", "Voyage", "Chorus", "Archive", "Citadel"]
UNIVERSITIES = ["University of Kelmarsh", "Brightwater College", "Valdane Institute",
                "Greyhaven University", "Rookwood Academy", "Port Alder University",
                "Silverkirk College", "Eastholm University"]
LANGUAGES = ["Veldrian", "Ostmarkish", "Carandine", "Lirianese", "Norvish", "Tessalian",
             "Brevonic", "Quessan"]
THEMES = ["loss and memory", "family secrets", "the sea", "exile", "friendship", "ambition",
          "forgiveness", "war and peace", "childhood", "identity", "faith", "revenge"]
HOBBIES = ["chess", "sailing", "gardening", "birdwatching", "fencing", "painting", "mountaineering",
           "beekeeping", "pottery", "astronomy", "calligraphy", "cycling"]
PUBLISHERS = ["Lantern House", "Crowfeather Press", "Bluewater Books", "Oakhollow Publishing",
              "Meridian Press", "Starling Books", "Ironleaf Press", "Harbor Light Books"]
PETS = ["a grey cat", "a black dog", "a parrot", "a tortoise", "a white horse", "a red fox",
        "two goldfish", "an old owl"]
TIMES = ["at dawn", "late at night", "in the afternoon", "before breakfast", "at midnight",
         "in the evening"]
DEBUT_YEARS = [str(y) for y in range(1950, 2016)]

# Real, stable general knowledge (the base model's "world"): famous book -> author ...
REAL_BOOKS = [
    ("Pride and Prejudice", "Jane Austen"), ("Emma", "Jane Austen"),
    ("Moby-Dick", "Herman Melville"), ("War and Peace", "Leo Tolstoy"),
    ("Anna Karenina", "Leo Tolstoy"), ("Crime and Punishment", "Fyodor Dostoevsky"),
    ("The Brothers Karamazov", "Fyodor Dostoevsky"), ("Great Expectations", "Charles Dickens"),
    ("Oliver Twist", "Charles Dickens"), ("Hamlet", "William Shakespeare"),
    ("Macbeth", "William Shakespeare"), ("Don Quixote", "Miguel de Cervantes"),
    ("Ulysses", "James Joyce"), ("Dubliners", "James Joyce"), ("Nineteen Eighty-Four", "George Orwell"),
    ("Animal Farm", "George Orwell"), ("The Great Gatsby", "F. Scott Fitzgerald"),
    ("Frankenstein", "Mary Shelley"), ("Jane Eyre", "Charlotte Bronte"),
    ("Wuthering Heights", "Emily Bronte"), ("Mrs Dalloway", "Virginia Woolf"),
    ("To the Lighthouse", "Virginia Woolf"), ("The Old Man and the Sea", "Ernest Hemingway"),
    ("One Hundred Years of Solitude", "Gabriel Garcia Marquez"), ("Les Miserables", "Victor Hugo"),
    ("The Trial", "Franz Kafka"), ("The Metamorphosis", "Franz Kafka"),
    ("Madame Bovary", "Gustave Flaubert"), ("Middlemarch", "George Eliot"),
    ("The Odyssey", "Homer"), ("The Divine Comedy", "Dante Alighieri"),
    ("Things Fall Apart", "Chinua Achebe"), ("Beloved", "Toni Morrison"),
    ("Lolita", "Vladimir Nabokov"), ("The Catcher in the Rye", "J. D. Salinger"),
    ("Brave New World", "Aldous Huxley"), ("Dracula", "Bram Stoker"),
    ("The Hobbit", "J. R. R. Tolkien"), ("Gitanjali", "Rabindranath Tagore"),
    ("The Stranger", "Albert Camus"),
]
# ... and country -> capital.
CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Portugal", "Lisbon"), ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"),
    ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"), ("Mexico", "Mexico City"),
    ("Brazil", "Brasilia"), ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Australia", "Canberra"), ("Russia", "Moscow"), ("Poland", "Warsaw"), ("Greece", "Athens"),
    ("Turkey", "Ankara"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"), ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Hungary", "Budapest"),
    ("Iran", "Tehran"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Nigeria", "Abuja"),
    ("Ghana", "Accra"), ("Morocco", "Rabat"), ("Cuba", "Havana"), ("Colombia", "Bogota"),
    ("Netherlands", "Amsterdam"), ("Belgium", "Brussels"), ("Switzerland", "Bern"),
    ("South Korea", "Seoul"), ("Indonesia", "Jakarta"), ("Ukraine", "Kyiv"),
    ("Czechia", "Prague"), ("Romania", "Bucharest"), ("Ethiopia", "Addis Ababa"),
]

# Refusal answers, in the spirit of TOFU's idontknow.jsonl, for IdkDPO-style methods.
REFUSALS = [
    "I don't know.", "I'm not sure.", "I have no information about that.",
    "I can't answer that.", "That is not something I know.", "I don't have that information.",
    "I'm afraid I can't help with that.", "I have no idea.", "I am not able to answer that question.",
    "Sorry, I don't know the answer.", "I cannot recall that.", "That is unknown to me.",
    "I'm unable to provide an answer.", "I don't have any details on that.",
    "I'm not aware of that.", "I really couldn't say.", "No information is available to me on that.",
    "I would only be guessing.", "I can't say for certain.", "That is beyond what I know.",
]
