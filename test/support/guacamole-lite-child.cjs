// Runs STOCK guacamole-lite 1.2.0 against a guacd that splits a UTF-8 character across two TCP
// writes, to show the defect our relay replaces: the exception escapes into a socket handler and
// the whole process dies. Prints READY <port> once listening.
const net = require('node:net');
const GuacamoleLite = require('guacamole-lite');
const Crypt = require('guacamole-lite/lib/Crypt.js');

const key = 'MySuperSecretKeyForParamsToken12';
const fakeGuacd = net.createServer((s) => {
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
    if (text.includes('6.select,')) { text = ''; s.write('4.args,13.VERSION_1_5_0,8.hostname;'); }
    if (/7\.connect,/.test(text)) {
      text = '';
      s.write('5.ready,5.$test;');
      const bytes = Buffer.from('4.name,2.東京;');
      s.write(bytes.subarray(0, 10)); // ends inside 東
      setTimeout(() => s.write(bytes.subarray(10)), 50);
    }
  });
  s.on('error', () => {});
});
fakeGuacd.listen(0, '127.0.0.1', () => {
  const guacdPort = fakeGuacd.address().port;
  const server = new GuacamoleLite({ port: 0, host: '127.0.0.1' }, { host: '127.0.0.1', port: guacdPort }, { crypt: { cypher: 'AES-256-CBC', key }, log: { level: 'QUIET', stdLog: () => {}, errorLog: () => {} } });
  server.webSocketServer.on('listening', () => {
    const token = new Crypt('AES-256-CBC', key).encrypt({ connection: { type: 'rdp', settings: { hostname: '127.0.0.1' } } });
    process.stdout.write(`READY ${server.webSocketServer.address().port} ${encodeURIComponent(token)}\n`);
  });
});
