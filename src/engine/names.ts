import { randomBelow, urandom } from '../base/random.js';

// Generated container names are `adjective_surname`, as Docker's are; the surnames are
// people who shaped computing and science.
const ADJECTIVES = [
  'admiring', 'adoring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'beautiful', 'blissful', 'bold',
  'boring', 'brave', 'busy', 'charming', 'clever', 'compassionate', 'competent', 'condescending', 'confident', 'cool',
  'cranky', 'crazy', 'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic', 'elastic', 'elated',
  'elegant', 'eloquent', 'epic', 'exciting', 'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty',
  'funny', 'gallant', 'gifted', 'goofy', 'gracious', 'great', 'happy', 'hardcore', 'heuristic', 'hopeful',
  'hungry', 'infallible', 'inspiring', 'intelligent', 'interesting', 'jolly', 'jovial', 'keen', 'kind', 'laughing',
  'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying', 'naughty', 'nervous', 'nice', 'nifty',
  'nostalgic', 'objective', 'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical',
  'recursing', 'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly', 'sleepy', 'stoic',
  'strange', 'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'unruffled', 'upbeat', 'vibrant',
  'vigilant', 'vigorous', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];

const SURNAMES = [
  'agnesi', 'albattani', 'allen', 'almeida', 'archimedes', 'ardinghelli', 'aryabhata', 'austin', 'babbage', 'banach',
  'bardeen', 'bartik', 'bassi', 'bell', 'benz', 'bhabha', 'bhaskara', 'blackwell', 'bohr', 'booth',
  'borg', 'bose', 'boyd', 'brahmagupta', 'brattain', 'brown', 'carson', 'cerf', 'chandrasekhar', 'chaplygin',
  'chatelet', 'chatterjee', 'clarke', 'colden', 'cori', 'cray', 'curie', 'darwin', 'davinci', 'dijkstra',
  'dubinsky', 'easley', 'edison', 'einstein', 'elion', 'engelbart', 'euclid', 'euler', 'faraday', 'fermat',
  'fermi', 'feynman', 'franklin', 'galileo', 'gates', 'goldberg', 'goldstine', 'goldwasser', 'goodall', 'hamilton',
  'hawking', 'heisenberg', 'hermann', 'hopper', 'hodgkin', 'hoover', 'hypatia', 'jackson', 'jang', 'jepsen',
  'johnson', 'joliot', 'jones', 'kalam', 'kare', 'keller', 'kepler', 'khorana', 'kilby', 'kirch',
  'knuth', 'kowalevski', 'lalande', 'lamarr', 'lamport', 'leakey', 'leavitt', 'lederberg', 'lehmann', 'lewin',
  'liskov', 'lovelace', 'lumiere', 'mahavira', 'margulis', 'matsumoto', 'maxwell', 'mayer', 'mccarthy', 'mcclintock',
  'meitner', 'mendel', 'merkle', 'minsky', 'mirzakhani', 'moore', 'morse', 'napier', 'nash', 'neumann',
  'newton', 'nobel', 'noether', 'northcutt', 'noyce', 'panini', 'pare', 'pascal', 'pasteur', 'payne',
  'perlman', 'pike', 'poincare', 'poitras', 'ptolemy', 'raman', 'ramanujan', 'ride', 'ritchie', 'robinson',
  'roentgen', 'rosalind', 'saha', 'sammet', 'shamir', 'shannon', 'shaw', 'shockley', 'sinoussi', 'snyder',
  'spence', 'stonebraker', 'sutherland', 'swartz', 'tesla', 'thompson', 'torvalds', 'turing', 'varahamihira', 'villani',
  'visvesvaraya', 'volhard', 'wescoff', 'wiles', 'williams', 'wilson', 'wing', 'wozniak', 'wright', 'yalow',
  'yonath',
];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const n = `${ADJECTIVES[randomBelow(ADJECTIVES.length)]}_${SURNAMES[randomBelow(SURNAMES.length)]}`;
    if (!taken(n)) return n;
  }
  for (;;) {
    const n = `${ADJECTIVES[randomBelow(ADJECTIVES.length)]}_${SURNAMES[randomBelow(SURNAMES.length)]}${randomBelow(100)}`;
    if (!taken(n)) return n;
  }
}

/** 64 hex; never all digits, so a short ID cannot be mistaken for a number (as Docker). */
export function generateId(): string {
  for (;;) {
    const id = urandom(32).toString('hex');
    if (/[a-f]/.test(id.slice(0, 12))) return id;
  }
}

/** Docker's container name rule. */
export const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
