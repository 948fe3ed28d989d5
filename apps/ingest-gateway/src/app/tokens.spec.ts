import { mayWrite, parseTokensFile, TokenFileError } from './tokens';

const FILE = ['# token client [device prefix]', 'tok-fleet-aaaaaaaaaaaa  fleet-a  dev-a-', 'tok-admin-bbbbbbbbbbbb  admin', '', 'tok-one-ccccccccccccccc one dev-000042 # a single device'].join('\n');

describe('tokens', () => {
  const store = parseTokensFile(FILE);

  it('authenticates a bearer token and returns its grant', () => {
    expect(store.size).toBe(3);
    expect(store.authenticate('Bearer tok-fleet-aaaaaaaaaaaa')).toEqual({ client: 'fleet-a', devicePrefix: 'dev-a-' });
    expect(store.authenticate('bearer tok-admin-bbbbbbbbbbbb')).toEqual({ client: 'admin' });
    expect(store.authenticate('Bearer tok-one-ccccccccccccccc')).toEqual({ client: 'one', devicePrefix: 'dev-000042' });
  });

  it('refuses missing, malformed and unknown tokens', () => {
    for (const header of [undefined, '', 'tok-admin-bbbbbbbbbbbb', 'Basic dXNlcjpwdw==', 'Bearer', 'Bearer tok-admin-bbbbbbbbbbbX', 'Bearer a b']) {
      expect(store.authenticate(header)).toBeUndefined();
    }
  });

  it('binds a token to its device prefix', () => {
    const fleet = store.authenticate('Bearer tok-fleet-aaaaaaaaaaaa')!;
    expect(mayWrite(fleet, 'dev-a-17')).toBe(true);
    expect(mayWrite(fleet, 'dev-b-17')).toBe(false);
    expect(mayWrite(fleet, 'dev-a')).toBe(false);
    expect(mayWrite(store.authenticate('Bearer tok-admin-bbbbbbbbbbbb')!, 'anything')).toBe(true);
  });

  it('rejects a malformed file with the line number', () => {
    expect(() => parseTokensFile('short client', 't')).toThrow(/t:1: token of client is shorter than 16/);
    expect(() => parseTokensFile('tok-aaaaaaaaaaaaaaaa', 't')).toThrow(/t:1: expected/);
    expect(() => parseTokensFile('tok-aaaaaaaaaaaaaaaa a\ntok-aaaaaaaaaaaaaaaa b', 't')).toThrow(/t:2: duplicate token/);
    expect(() => parseTokensFile('# nothing\n', 't')).toThrow(TokenFileError);
  });
});
