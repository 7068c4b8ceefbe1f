// An OpenID Connect provider for Berth's tests: the npm `oidc-provider`
// package (installed by scripts/test.sh) on 127.0.0.1:<port>, issuer
// http://127.0.0.1:<port>. Prints "listening" once it accepts requests.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const provider = new Provider(`http://127.0.0.1:${port}`, { clients: [] });
provider.listen(port, '127.0.0.1', () => console.log('listening'));
