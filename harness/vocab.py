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
# More first names for the author world only (the news world's people keep FIRST_NAMES): the authors
# membership inference compares each need a first name no other author has (tofu/world.py), 60 of
# them at TOFU's size.
MORE_FIRST_NAMES = [
    "Adela", "Bastian", "Corin", "Dagny", "Eamon", "Fiora", "Gideon", "Hesper", "Ivo", "Juniper",
    "Kasimir", "Liesel", "Matthias", "Nerys", "Oriel", "Philippa", "Quentin", "Rosalind", "Soren",
    "Thessaly", "Ulric", "Verity", "Wolfram", "Xenia", "Yarrow", "Zephyrine", "Alaric", "Beatrix",
    "Cosimo", "Damaris", "Evander", "Fleur", "Gwendolyn", "Hector", "Ilse", "Jovan", "Kestrel",
    "Lucius", "Margery", "Niamh",
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

# Real, stable general knowledge (the base model's "world"): famous book -> author ... Each list is
# cut into UTILITY_BLOCKS equal blocks, and world seed s draws its utility questions from block
# s % UTILITY_BLOCKS only (harness/worlds/authors.py), so worlds of seeds 0-3 never ask the same
# utility question (a validation world must not share its test world's items). The first block is the
# list as it was before blocks existed: the seed-0 world is unchanged. Every fact is meant to be
# undisputed: one author per book, one capital per country, no title or country twice.
UTILITY_BLOCKS = 4
REAL_BOOKS = [
    # block 0: world seeds 0, 4, 8, ...
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
    # block 1: world seeds 1, 5, 9, ...
    ("Sense and Sensibility", "Jane Austen"), ("David Copperfield", "Charles Dickens"),
    ("Romeo and Juliet", "William Shakespeare"), ("A Portrait of the Artist as a Young Man", "James Joyce"),
    ("The Sound and the Fury", "William Faulkner"), ("Of Mice and Men", "John Steinbeck"),
    ("Adventures of Huckleberry Finn", "Mark Twain"), ("Uncle Tom's Cabin", "Harriet Beecher Stowe"),
    ("Gulliver's Travels", "Jonathan Swift"),
    ("Strange Case of Dr Jekyll and Mr Hyde", "Robert Louis Stevenson"),
    ("Far from the Madding Crowd", "Thomas Hardy"), ("Twenty Thousand Leagues Under the Seas", "Jules Verne"),
    ("Candide", "Voltaire"), ("Germinal", "Emile Zola"), ("The Plague", "Albert Camus"),
    ("The Sorrows of Young Werther", "Johann Wolfgang von Goethe"), ("Siddhartha", "Hermann Hesse"),
    ("The Tin Drum", "Gunter Grass"), ("The Master and Margarita", "Mikhail Bulgakov"),
    ("The Cherry Orchard", "Anton Chekhov"), ("The Decameron", "Giovanni Boccaccio"),
    ("Love in the Time of Cholera", "Gabriel Garcia Marquez"), ("The House of the Spirits", "Isabel Allende"),
    ("A Suitable Boy", "Vikram Seth"), ("No Longer Human", "Osamu Dazai"),
    ("Season of Migration to the North", "Tayeb Salih"),
    ("Their Eyes Were Watching God", "Zora Neale Hurston"), ("Slaughterhouse-Five", "Kurt Vonnegut"),
    ("Fahrenheit 451", "Ray Bradbury"), ("The Handmaid's Tale", "Margaret Atwood"),
    ("Never Let Me Go", "Kazuo Ishiguro"), ("Murder on the Orient Express", "Agatha Christie"),
    ("Alice's Adventures in Wonderland", "Lewis Carroll"), ("The Call of the Wild", "Jack London"),
    ("Paradise Lost", "John Milton"), ("The Left Hand of Darkness", "Ursula K. Le Guin"),
    ("Gone with the Wind", "Margaret Mitchell"), ("Silas Marner", "George Eliot"),
    ("The Secret Garden", "Frances Hodgson Burnett"), ("Sons and Lovers", "D. H. Lawrence"),
    # block 2: world seeds 2, 6, 10, ...
    ("Persuasion", "Jane Austen"), ("The Idiot", "Fyodor Dostoevsky"), ("King Lear", "William Shakespeare"),
    ("The Sun Also Rises", "Ernest Hemingway"), ("As I Lay Dying", "William Faulkner"),
    ("To Kill a Mockingbird", "Harper Lee"), ("The Scarlet Letter", "Nathaniel Hawthorne"),
    ("The Picture of Dorian Gray", "Oscar Wilde"), ("Robinson Crusoe", "Daniel Defoe"),
    ("Heart of Darkness", "Joseph Conrad"), ("The Time Machine", "H. G. Wells"),
    ("Around the World in Eighty Days", "Jules Verne"), ("The Red and the Black", "Stendhal"),
    ("In Search of Lost Time", "Marcel Proust"), ("Nausea", "Jean-Paul Sartre"),
    ("The Magic Mountain", "Thomas Mann"), ("Steppenwolf", "Hermann Hesse"), ("Dead Souls", "Nikolai Gogol"),
    ("Doctor Zhivago", "Boris Pasternak"), ("A Doll's House", "Henrik Ibsen"),
    ("The Prince", "Niccolo Machiavelli"), ("Ficciones", "Jorge Luis Borges"),
    ("Midnight's Children", "Salman Rushdie"), ("The Wind-Up Bird Chronicle", "Haruki Murakami"),
    ("The Kite Runner", "Khaled Hosseini"), ("Cry, the Beloved Country", "Alan Paton"),
    ("Native Son", "Richard Wright"), ("On the Road", "Jack Kerouac"),
    ("Lord of the Flies", "William Golding"), ("Life of Pi", "Yann Martel"), ("Atonement", "Ian McEwan"),
    ("The Hound of the Baskervilles", "Arthur Conan Doyle"), ("The Wind in the Willows", "Kenneth Grahame"),
    ("Walden", "Henry David Thoreau"), ("The Canterbury Tales", "Geoffrey Chaucer"),
    ("The Age of Innocence", "Edith Wharton"), ("The Jungle Book", "Rudyard Kipling"),
    ("The Woman in White", "Wilkie Collins"), ("Black Beauty", "Anna Sewell"), ("Ivanhoe", "Walter Scott"),
    # block 3: world seeds 3, 7, 11, ...
    ("A Tale of Two Cities", "Charles Dickens"), ("The Death of Ivan Ilyich", "Leo Tolstoy"),
    ("The Tempest", "William Shakespeare"), ("A Farewell to Arms", "Ernest Hemingway"),
    ("The Grapes of Wrath", "John Steinbeck"), ("The Adventures of Tom Sawyer", "Mark Twain"),
    ("Little Women", "Louisa May Alcott"), ("The Importance of Being Earnest", "Oscar Wilde"),
    ("Treasure Island", "Robert Louis Stevenson"), ("Tess of the d'Urbervilles", "Thomas Hardy"),
    ("The War of the Worlds", "H. G. Wells"), ("The Hunchback of Notre-Dame", "Victor Hugo"),
    ("Pere Goriot", "Honore de Balzac"), ("The Little Prince", "Antoine de Saint-Exupery"),
    ("The Second Sex", "Simone de Beauvoir"), ("Buddenbrooks", "Thomas Mann"),
    ("All Quiet on the Western Front", "Erich Maria Remarque"), ("Eugene Onegin", "Alexander Pushkin"),
    ("One Day in the Life of Ivan Denisovich", "Aleksandr Solzhenitsyn"),
    ("The Name of the Rose", "Umberto Eco"), ("If on a winter's night a traveler", "Italo Calvino"),
    ("Pedro Paramo", "Juan Rulfo"), ("The God of Small Things", "Arundhati Roy"),
    ("Snow Country", "Yasunari Kawabata"), ("Half of a Yellow Sun", "Chimamanda Ngozi Adichie"),
    ("The Color Purple", "Alice Walker"), ("Catch-22", "Joseph Heller"), ("The Bell Jar", "Sylvia Plath"),
    ("A Clockwork Orange", "Anthony Burgess"), ("The Remains of the Day", "Kazuo Ishiguro"),
    ("Rebecca", "Daphne du Maurier"), ("The Lord of the Rings", "J. R. R. Tolkien"),
    ("Charlotte's Web", "E. B. White"), ("Leaves of Grass", "Walt Whitman"), ("Dune", "Frank Herbert"),
    ("The Portrait of a Lady", "Henry James"), ("A Passage to India", "E. M. Forster"),
    ("Anne of Green Gables", "L. M. Montgomery"), ("Brideshead Revisited", "Evelyn Waugh"),
    ("The Last of the Mohicans", "James Fenimore Cooper"),
]
# ... and country -> capital.
CAPITALS = [
    # block 0: world seeds 0, 4, 8, ...
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
    # block 1: world seeds 1, 5, 9, ...
    ("United Kingdom", "London"), ("Latvia", "Riga"), ("Moldova", "Chisinau"), ("Croatia", "Zagreb"),
    ("North Macedonia", "Skopje"), ("Malta", "Valletta"), ("Liechtenstein", "Vaduz"),
    ("Montenegro", "Podgorica"), ("San Marino", "San Marino"), ("Nepal", "Kathmandu"), ("Iraq", "Baghdad"),
    ("Jordan", "Amman"), ("United Arab Emirates", "Abu Dhabi"), ("Kuwait", "Kuwait City"),
    ("Philippines", "Manila"), ("Uzbekistan", "Tashkent"), ("Tajikistan", "Dushanbe"),
    ("Timor-Leste", "Dili"), ("Kazakhstan", "Astana"), ("Tunisia", "Tunis"), ("South Sudan", "Juba"),
    ("Somalia", "Mogadishu"), ("Mali", "Bamako"), ("Burkina Faso", "Ouagadougou"),
    ("Sierra Leone", "Freetown"), ("Cameroon", "Yaounde"), ("Democratic Republic of the Congo", "Kinshasa"),
    ("Zambia", "Lusaka"), ("Malawi", "Lilongwe"), ("Lesotho", "Maseru"), ("Mauritania", "Nouakchott"),
    ("Seychelles", "Victoria"), ("Tanzania", "Dodoma"), ("Venezuela", "Caracas"), ("Paraguay", "Asuncion"),
    ("Jamaica", "Kingston"), ("Guatemala", "Guatemala City"), ("Nicaragua", "Managua"),
    ("Belize", "Belmopan"), ("Trinidad and Tobago", "Port of Spain"), ("Dominica", "Roseau"),
    ("Saint Kitts and Nevis", "Basseterre"), ("Papua New Guinea", "Port Moresby"), ("Vanuatu", "Port Vila"),
    ("Marshall Islands", "Majuro"),
    # block 2: world seeds 2, 6, 10, ...
    ("Iceland", "Reykjavik"), ("Lithuania", "Vilnius"), ("Slovakia", "Bratislava"), ("Serbia", "Belgrade"),
    ("Albania", "Tirana"), ("Cyprus", "Nicosia"), ("Armenia", "Yerevan"), ("Luxembourg", "Luxembourg City"),
    ("Pakistan", "Islamabad"), ("Bhutan", "Thimphu"), ("Syria", "Damascus"), ("Saudi Arabia", "Riyadh"),
    ("Qatar", "Doha"), ("Mongolia", "Ulaanbaatar"), ("Cambodia", "Phnom Penh"), ("Turkmenistan", "Ashgabat"),
    ("Maldives", "Male"), ("Myanmar", "Naypyidaw"), ("Singapore", "Singapore"), ("Libya", "Tripoli"),
    ("Uganda", "Kampala"), ("Eritrea", "Asmara"), ("Niger", "Niamey"), ("Guinea", "Conakry"),
    ("Liberia", "Monrovia"), ("Gabon", "Libreville"), ("Central African Republic", "Bangui"),
    ("Zimbabwe", "Harare"), ("Botswana", "Gaborone"), ("Madagascar", "Antananarivo"),
    ("The Gambia", "Banjul"), ("Comoros", "Moroni"), ("Djibouti", "Djibouti City"), ("Ecuador", "Quito"),
    ("Guyana", "Georgetown"), ("Haiti", "Port-au-Prince"), ("Honduras", "Tegucigalpa"),
    ("Costa Rica", "San Jose"), ("Bahamas", "Nassau"), ("Saint Lucia", "Castries"),
    ("Antigua and Barbuda", "Saint John's"), ("New Zealand", "Wellington"), ("Samoa", "Apia"),
    ("Solomon Islands", "Honiara"), ("Tuvalu", "Funafuti"),
    # block 3: world seeds 3, 7, 11, ...
    ("Estonia", "Tallinn"), ("Belarus", "Minsk"), ("Slovenia", "Ljubljana"),
    ("Bosnia and Herzegovina", "Sarajevo"), ("Bulgaria", "Sofia"), ("Andorra", "Andorra la Vella"),
    ("Azerbaijan", "Baku"), ("Monaco", "Monaco"), ("Bangladesh", "Dhaka"), ("Afghanistan", "Kabul"),
    ("Lebanon", "Beirut"), ("Oman", "Muscat"), ("Bahrain", "Manama"), ("North Korea", "Pyongyang"),
    ("Laos", "Vientiane"), ("Kyrgyzstan", "Bishkek"), ("Brunei", "Bandar Seri Begawan"),
    ("Malaysia", "Kuala Lumpur"), ("Algeria", "Algiers"), ("Sudan", "Khartoum"), ("Rwanda", "Kigali"),
    ("Senegal", "Dakar"), ("Chad", "N'Djamena"), ("Guinea-Bissau", "Bissau"), ("Togo", "Lome"),
    ("Republic of the Congo", "Brazzaville"), ("Angola", "Luanda"), ("Mozambique", "Maputo"),
    ("Namibia", "Windhoek"), ("Mauritius", "Port Louis"), ("Cape Verde", "Praia"),
    ("Sao Tome and Principe", "Sao Tome"), ("United States", "Washington, D.C."), ("Uruguay", "Montevideo"),
    ("Suriname", "Paramaribo"), ("Dominican Republic", "Santo Domingo"), ("El Salvador", "San Salvador"),
    ("Panama", "Panama City"), ("Barbados", "Bridgetown"), ("Grenada", "Saint George's"),
    ("Saint Vincent and the Grenadines", "Kingstown"), ("Fiji", "Suva"), ("Tonga", "Nuku'alofa"),
    ("Micronesia", "Palikir"), ("Palau", "Ngerulmud"),
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
