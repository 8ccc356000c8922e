export default function App() {
  return <div>FinSys admin console</div>;
}
